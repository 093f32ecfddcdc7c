import Foundation
import SplitTestSupport
import Testing

/// The JSON cases in `Tests/Fixtures/` that the device client checks too.
enum FixtureFiles {
    static func object(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: packageRoot.appendingPathComponent("Tests/Fixtures/\(name)"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A JSON number as Double, whether it was written as an integer or not (nil for null).
    static func number(_ value: Any?) -> Double? {
        switch value {
        case let value as Double: return value
        case let value as Int: return Double(value)
        case let value as NSNumber: return value.doubleValue
        default: return nil
        }
    }

    static func numbers(_ value: Any?) throws -> [Double] {
        try #require(value as? [Any]).map { try #require(number($0)) }
    }
}
