import Foundation
import SplitCore
import SplitIntegrationSupport
import SplitTestSupport
import Testing

@testable import SplitServer

/// The configuration at the built `splitd`: its `--help` lists every setting, it refuses unknown
/// flags and bad combinations at start, and it follows the command-line conventions.
@Suite("Configuration at splitd's command line")
struct DaemonConfigurationTests {
    @Test("every setting is in `splitd serve --help`, with its flag and variable")
    func help() throws {
        let help = try runSplitd(["serve", "--help"])
        for setting in ServerConfiguration.settings {
            #expect(help.contains(setting.flag) && help.contains(setting.variable), "\(setting.flag) missing from splitd serve --help")
        }
    }

    @Test("unknown flags are refused")
    func unknownFlag() throws {
        let refused = try runSplitd(["serve", "--plan-workerz", "3"], expectStatus: 2)
        #expect(refused.contains("unknown option '--plan-workerz'"))
    }

    @Test("splitd refuses the combination at start: exit 2, one line naming both variables")
    func daemonRefuses() throws {
        let output = try runSplitd(
            ["serve"], expectStatus: 2,
            environment: [
                "SPLITD_WEBHOOK_TIMEOUT": "1m", "SPLITD_DELIVERY_LEASE": "1s", "SPLITD_DATABASE_URL": "postgres://unused",
                "SPLITD_ADMIN_TOKEN": Daemon.adminToken,
            ])
        #expect(output.contains("configuration error: SPLITD_DELIVERY_LEASE (1s)") && output.contains("SPLITD_WEBHOOK_TIMEOUT (1m)"), "\(output)")
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
