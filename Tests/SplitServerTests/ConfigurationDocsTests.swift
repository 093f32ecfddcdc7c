import Foundation
import SplitCore
import SplitTestSupport
import Testing

@testable import SplitServer

/// The settings are declared once (`ServerConfiguration.settings`); everything that lists them
/// must agree with that list, and every `SPLITD_*` name the sources mention must be in it.
/// (`splitd serve --help`, built from the same list, is checked against the binary in the
/// integration tests.)
@Suite("Configuration is documented")
struct ConfigurationDocsTests {
    static func read(_ path: String) throws -> String {
        try String(contentsOf: packageRoot.appendingPathComponent(path), encoding: .utf8)
    }

    @Test("every variable the code reads is a setting, and every setting is in docs/configuration.md and the env example")
    func documented() throws {
        let declared = Set(ServerConfiguration.settings.map(\.variable))
        #expect(declared.count == ServerConfiguration.settings.count, "no variable declared twice")
        // Every quoted SPLITD_* name in the Swift sources.
        var used: Set<String> = []
        let enumerator = FileManager.default.enumerator(at: packageRoot.appendingPathComponent("Sources"), includingPropertiesForKeys: nil)
        let pattern = try NSRegularExpression(pattern: "\"(SPLITD_[A-Z_]+)\"")
        while let url = enumerator?.nextObject() as? URL {
            guard url.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: url, encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                used.insert(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        #expect(used.subtracting(declared).isEmpty, "read but not a setting: \(used.subtracting(declared).sorted())")
        let table = try Self.read("docs/configuration.md"), example = try Self.read("systemd/splitd.env.example")
        for setting in ServerConfiguration.settings {
            #expect(table.contains("`\(setting.variable)`"), "\(setting.variable) missing from docs/configuration.md's table")
            #expect(example.contains(setting.variable), "\(setting.variable) missing from systemd/splitd.env.example")
        }
    }

    @Test("every setting's flag works: --plan-workers and friends override their variables")
    func flags() throws {
        let overrides = try ConfigurationOptionsProbe.overrides(["--plan-workers", "3", "--switch-horizon=5", "--log-format", "json"])
        let configuration = try ServerConfiguration.load(environment: [:], overrides: overrides)
        #expect(configuration.planWorkers == 3 && configuration.switchHorizonIterations == 5 && configuration.logFormat == .json)
    }
}

/// Parses flags the way `splitd serve` does (its ConfigurationOptions lives in the executable).
enum ConfigurationOptionsProbe {
    static func overrides(_ arguments: [String]) throws -> [String: String] {
        var overrides: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            var flag = arguments[index], value: String?
            if let equals = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: equals)...])
                flag = String(flag[..<equals])
            }
            let setting = try #require(ServerConfiguration.settings.first { $0.flag == flag }, "no setting for \(flag)")
            if value == nil {
                index += 1
                value = arguments[index]
            }
            overrides[setting.variable] = value
            index += 1
        }
        return overrides
    }
}
