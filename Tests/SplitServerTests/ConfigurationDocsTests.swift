import Foundation
import SplitCore
import SplitIntegrationSupport
import SplitTestSupport
import Testing

@testable import SplitServer

/// The settings are declared once (`ServerConfiguration.settings`); everything that lists them
/// must agree with that list, and every `SPLITD_*` name the sources mention must be in it.
@Suite("Configuration is documented")
struct ConfigurationDocsTests {
    static func read(_ path: String) throws -> String {
        try String(contentsOf: packageRoot.appendingPathComponent(path), encoding: .utf8)
    }

    @Test("every variable the code reads is a setting, and every setting is in docs/configuration.md, the env example and `splitd serve --help`")
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
        let help = try runSplitd(["serve", "--help"])
        for setting in ServerConfiguration.settings {
            #expect(table.contains("`\(setting.variable)`"), "\(setting.variable) missing from docs/configuration.md's table")
            #expect(example.contains(setting.variable), "\(setting.variable) missing from systemd/splitd.env.example")
            #expect(help.contains(setting.flag) && help.contains(setting.variable), "\(setting.flag) missing from splitd serve --help")
        }
    }

    @Test("every setting's flag works: --plan-workers and friends override their variables; unknown flags are refused")
    func flags() throws {
        let overrides = try ConfigurationOptionsProbe.overrides(["--plan-workers", "3", "--switch-horizon=5", "--log-format", "json"])
        let configuration = try ServerConfiguration.load(environment: [:], overrides: overrides)
        #expect(configuration.planWorkers == 3 && configuration.switchHorizonIterations == 5 && configuration.logFormat == .json)
        let refused = try runSplitd(["serve", "--plan-workerz", "3"], expectStatus: 2)
        #expect(refused.contains("unknown option '--plan-workerz'"))
    }

    @Test("--version prints the version; a taken port is reported with its address; JSON logs are one object per line")
    func conventions() async throws {
        #expect(try runSplitd(["--version"]).trimmingCharacters(in: .whitespacesAndNewlines) == SplitdVersion.current)
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let first = try await Daemon(database: database, extra: ["SPLITD_LOG_FORMAT": "json"])
        let lines = first.log().split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(!lines.isEmpty)
        for line in lines.prefix(20) {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] is String && object?["message"] is String && object?["timestamp"] is String, "\(line)")
        }
        let taken = try runSplitd(
            [], expectStatus: 2,
            environment: [
                "SPLITD_DATABASE_URL": database.url, "SPLITD_LISTEN": "127.0.0.1:\(first.port)", "SPLITD_ADMIN_TOKEN": Daemon.adminToken,
                "SPLITD_SECRET_KEY": Daemon.secretKey, "SPLITD_MIGRATIONS_DIR": packageRoot.appendingPathComponent("migrations").path,
                "SPLITD_STATE_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("splitd-taken").path,
            ])
        #expect(taken.contains("cannot listen on 127.0.0.1:\(first.port)") && taken.contains("already in use"), "\(taken)")
        #expect(await first.stop() == 0)
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

/// Runs the built splitd with `arguments`; returns stdout and stderr together.
@discardableResult
func runSplitd(_ arguments: [String], expectStatus: Int32 = 0, environment: [String: String]? = nil) throws -> String {
    let process = Process()
    process.executableURL = Daemon.binary
    process.arguments = arguments
    if let environment {
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPLITD_") }
        merged.merge(environment) { _, new in new }
        process.environment = merged
    }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    #expect(process.terminationStatus == expectStatus, "splitd \(arguments.joined(separator: " ")): \(text)")
    return text
}
