import Foundation
import SplitIntegrationSupport
import SplitStore
import SplitTestSupport
import Testing

@Suite("docs/sql.md queries", .serialized)
struct SQLDocsQueryTests {
    /// The ```sql blocks of docs/sql.md.
    static func queries() throws -> [String] {
        let page = try String(contentsOf: packageRoot.appendingPathComponent("docs/sql.md"), encoding: .utf8)
        return page.components(separatedBy: "```sql\n").dropFirst().compactMap { $0.components(separatedBy: "```").first }
    }

    @Test("every SQL query in docs/sql.md runs against a populated database and returns rows unless its first line says it may be empty")
    func documentedQueries() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        let daemon = try await Daemon(database: database)
        _ = try await Fleet.setUp(daemon, model: "resnet50", device: "jetson-resnet50-0", callback: receiver.url())
        _ = await receiver.waitFor(1)
        // A change of link so the device has a history.
        _ = try await daemon.json(
            "POST", "/v1/telemetry",
            [
                "samples": [
                    Fleet.telemetry(
                        "jetson-resnet50-0", uplink: 2e6,
                        at: Date().addingTimeInterval(120))
                ]
            ])
        _ = await receiver.waitFor(2)
        let connection = try database.connect()
        let queries = try Self.queries()
        #expect(queries.count >= 5)
        for (index, sql) in queries.enumerated() {
            let result = try connection.execute(sql)
            let mayBeEmpty = sql.prefix { $0 != "\n" }.contains("may be empty")
            #expect(result.rowCount > 0 || mayBeEmpty, "query \(index + 1) returned no rows:\n\(sql)")
        }
        await daemon.stop()
        await receiver.stop()
    }
}
