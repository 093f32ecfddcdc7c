import Foundation
import SplitCore

/// A default a command falls back on when its option is not given: the hardware and link
/// quantities that decide a plan. Each is written once, as the text `--help` shows; the value
/// used is that text parsed by the option's own parser (so help and behaviour cannot disagree),
/// and a run that relies on it says so on stderr (`announce(_:)`).
struct AssumedDefault: Sendable {
    /// The option, `--device-flops`.
    let flag: String
    /// The default as a user would write it, `100G`.
    let text: String
    /// What the quantity is, for the note: `device FLOP/s`.
    let meaning: String
    /// The option's parser.
    let parse: @Sendable (String) throws -> Double
    /// `text` parsed.
    let value: Double

    init(flag: String, text: String, meaning: String, parse: @escaping @Sendable (String) throws -> Double) {
        self.flag = flag
        self.text = text
        self.meaning = meaning
        self.parse = parse
        do {
            value = try parse(text)
        } catch {
            preconditionFailure("the default '\(text)' of \(flag) does not parse: \(error)")
        }
    }

    static let deviceFLOPs = AssumedDefault(flag: "--device-flops", text: "100G", meaning: "device FLOP/s", parse: Limits.parseThroughput)
    static let serverFLOPs = AssumedDefault(flag: "--server-flops", text: "20T", meaning: "server FLOP/s", parse: Limits.parseThroughput)
    static let rtt = AssumedDefault(flag: "--rtt", text: "10ms", meaning: "round-trip time") { try Limits.parseDuration($0, range: Limits.rtt) }
    static let uplink = AssumedDefault(flag: "--uplink", text: "20M", meaning: "uplink bit/s", parse: Limits.parseRate)
    static let downlink = AssumedDefault(flag: "--downlink", text: "40M", meaning: "downlink bit/s", parse: Limits.parseRate)

    /// `(default: 100G)`, for `--help`.
    var helpText: String { "(default: \(text))" }

    /// One note on stderr naming every default in `assumed`, or nothing when it is empty.
    static func announce(_ assumed: [AssumedDefault]) {
        guard !assumed.isEmpty else { return }
        let list = assumed.map { "\($0.flag) \($0.text) (\($0.meaning))" }.joined(separator: ", ")
        note("not given, so assumed: \(list); pass them to describe your device, server and link")
    }
}
