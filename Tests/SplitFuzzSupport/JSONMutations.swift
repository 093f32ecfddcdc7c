import Foundation
import SplitCore

/// Deterministic structural corruptions of a JSON document: a value replaced by one of the wrong
/// type, a huge or non-finite number, a NUL-bearing or very long string, a deeply nested value;
/// a member deleted, renamed or repeated. Each case is serialised back to bytes.
public enum JSONMutations {
    /// Values that no field of a splitd document accepts everywhere, and the ones readers trip on.
    public static let hostileLiterals: [String] = [
        "null", "true", "false", "0", "-0", "-1", "0.5", "1e999", "-1e999", "1e-999", "9007199254740993",
        "18446744073709551616", String(repeating: "9", count: 400), "\"\"", "\"x\"", "\"a\\u0000b\"", "\"\\ud800\"",
        "\"" + String(repeating: "é", count: 20_000) + "\"", "[]", "{}", "[null]", "{\"\":0}",
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
        String(repeating: "{\"a\":", count: 70) + "0" + String(repeating: "}", count: 70),
    ]

    /// `count` cases of `document` with 1 to 3 structural mutations each (seeded by `seed`).
    public static func cases(of document: JSONValue, count: Int, seed: UInt64) -> [FuzzCase] {
        (0..<count).map { number in
            var random = SplitMix64(seed: seed &* 3_000_017 &+ UInt64(number))
            var text = JSONText(document)
            var steps: [String] = []
            for _ in 0..<Int.random(in: 1...3, using: &random) { steps.append(text.mutate(&random)) }
            return FuzzCase("seed \(seed) case \(number): \(steps.joined(separator: "; "))", Array(text.render().utf8))
        }
    }

    /// Text-level insertions at random positions: a hostile literal, 100,000 open brackets (deep
    /// nesting that must be refused, not recursed into), or a stray quote or comma.
    public static func insertions(into bytes: [UInt8], count: Int, seed: UInt64) -> [FuzzCase] {
        let extras = hostileLiterals + [String(repeating: "[", count: 100_000), "\"", ",", ":", "}", "]"]
        return (0..<count).map { number in
            var random = SplitMix64(seed: seed &* 4_000_037 &+ UInt64(number))
            let position = Int.random(in: 0...bytes.count, using: &random)
            let literal = extras.randomElement(using: &random)!
            var copy = bytes
            copy.insert(contentsOf: Array(literal.utf8), at: position)
            return FuzzCase("seed \(seed) case \(number): inserted \(literal.prefix(24)) at \(position)", copy)
        }
    }
}

/// A JSON document as a tree whose leaves may be raw text (hostile literals are kept verbatim).
enum JSONText {
    case raw(String)
    indirect case array([JSONText])
    indirect case object([(key: String, value: JSONText)])

    init(_ value: JSONValue) {
        switch value {
        case .null: self = .raw("null")
        case .bool(let flag): self = .raw(flag ? "true" : "false")
        case .number(let number): self = .raw(number.isFinite ? "\(number)" : (number > 0 ? "1e999" : "-1e999"))
        case .string(let text): self = .raw(Self.quoted(text))
        case .array(let elements): self = .array(elements.map(JSONText.init))
        case .object(let members): self = .object(members.map { ($0.key, JSONText($0.value)) })
        }
    }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    func render() -> String {
        switch self {
        case .raw(let text): return text
        case .array(let elements): return "[" + elements.map { $0.render() }.joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { Self.quoted($0.key) + ":" + $0.value.render() }.joined(separator: ",") + "}"
        }
    }

    /// Number of nodes in the tree (the root included).
    var nodeCount: Int {
        switch self {
        case .raw: return 1
        case .array(let elements): return 1 + elements.reduce(0) { $0 + $1.nodeCount }
        case .object(let members): return 1 + members.reduce(0) { $0 + $1.value.nodeCount }
        }
    }

    /// Applies one random mutation to a random node; returns what it did.
    mutating func mutate(_ random: inout SplitMix64) -> String {
        var target = Int.random(in: 0..<nodeCount, using: &random)
        return visit(&target, &random) ?? "nothing"
    }

    /// Walks to node number `target` (pre-order) and mutates it.
    private mutating func visit(_ target: inout Int, _ random: inout SplitMix64) -> String? {
        if target == 0 { return mutateHere(&random) }
        target -= 1
        switch self {
        case .raw: return nil
        case .array(var elements):
            for index in elements.indices {
                if let done = elements[index].visit(&target, &random) {
                    self = .array(elements)
                    return "[\(index)] " + done
                }
            }
            return nil
        case .object(var members):
            for index in members.indices {
                if let done = members[index].value.visit(&target, &random) {
                    self = .object(members)
                    return ".\(members[index].key) " + done
                }
            }
            return nil
        }
    }

    private mutating func mutateHere(_ random: inout SplitMix64) -> String {
        if case .object(var members) = self, !members.isEmpty, Bool.random(using: &random) {
            let index = Int.random(in: 0..<members.count, using: &random)
            let key = members[index].key
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                members.remove(at: index)
                self = .object(members)
                return "member \(key) deleted"
            case 1:
                members[index].key = key + "_"
                self = .object(members)
                return "member \(key) renamed"
            default:
                members.append((key, .raw(JSONMutations.hostileLiterals.randomElement(using: &random)!)))
                self = .object(members)
                return "member \(key) repeated"
            }
        }
        if case .array(var elements) = self, !elements.isEmpty, Bool.random(using: &random) {
            let index = Int.random(in: 0..<elements.count, using: &random)
            if Bool.random(using: &random) {
                elements.remove(at: index)
            } else {
                elements.insert(elements[index], at: index)
            }
            self = .array(elements)
            return "element \(index) deleted or repeated"
        }
        let literal = JSONMutations.hostileLiterals.randomElement(using: &random)!
        self = .raw(literal)
        return "replaced by \(literal.prefix(24))"
    }
}
