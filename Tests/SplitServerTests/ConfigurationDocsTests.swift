import Foundation
import SplitCore
import SplitTestSupport
import Testing

@testable import SplitServer

/// The settings are declared once (`ServerConfiguration.settings`); everything that lists them
/// must agree with that list, and every `SPLITD_*` name the sources mention must be in it. Each
/// setting's documented default is the value the configuration starts with. (`splitd serve
/// --help`, built from the same list, is checked against the binary in the integration tests.)
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

    /// What an unset setting whose default is a description, not a value, leaves in the
    /// configuration; nil for a setting whose default is a value to parse.
    static func described(_ variable: String, _ configuration: ServerConfiguration) -> Bool? {
        switch variable {
        case "SPLITD_DATABASE_URL": configuration.databaseURL == nil  // "unset": the embedded cluster
        case "SPLITD_ADMIN_TOKEN": configuration.adminTokens.isEmpty  // "generated on loopback"
        case "SPLITD_SECRET_KEY": configuration.secretKey == nil  // "generated into <state>/secret-key"
        case "SPLITD_WEBHOOK_ALLOW": configuration.webhookAllowList.isEmpty  // "empty"
        case "SPLITD_INSTANCE_ID": configuration.instanceID == "\(ProcessInfo.processInfo.hostName)-\(getpid())"  // "host-pid"
        case "SPLITD_PG_BIN": configuration.postgresBinDirectory == nil  // "found"
        case "SPLITD_MIGRATIONS_DIR": configuration.migrationsDirectory == nil  // "found"
        default: nil
        }
    }

    @Test("every setting's documented default is the value used: set to it, the configuration is the default one")
    func defaultsAreTheValuesUsed() throws {
        let defaults = ServerConfiguration()
        for setting in ServerConfiguration.settings {
            if let holds = Self.described(setting.variable, defaults) {
                #expect(holds, "\(setting.variable): the default '\(setting.defaultValue)' does not describe the configuration")
                continue
            }
            // The value, without a remark in parentheses ("67108864 (64 MiB)", "./.splitd (systemd: ...)").
            let value = setting.defaultValue.components(separatedBy: " (").first ?? setting.defaultValue
            var configuration = defaults
            #expect(throws: Never.self, "\(setting.variable)'s default '\(value)' does not parse") { try setting.apply(value, &configuration) }
            #expect(
                String(reflecting: configuration) == String(reflecting: defaults),
                "\(setting.variable)'s documented default '\(value)' is not the value the configuration starts with")
        }
    }

    @Test("docs/configuration.md gives every setting the default `splitd serve --help` gives")
    func documentedDefaults() throws {
        let table = try Self.read("docs/configuration.md")
        for setting in ServerConfiguration.settings {
            let row = table.split(separator: "\n").first { $0.hasPrefix("| `\(setting.variable)` |") }
            let cells = row?.split(separator: "|", omittingEmptySubsequences: false) ?? []
            let documented = cells.count > 2 ? cells[2].replacingOccurrences(of: "`", with: "").trimmingCharacters(in: .whitespaces) : nil
            #expect(documented == setting.defaultValue, "\(setting.variable): docs/configuration.md says \(documented ?? "nothing")")
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
