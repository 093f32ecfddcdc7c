import Foundation
import SplitIntegrationSupport
import SplitTestSupport
import Testing

@testable import SplitStore

@Suite("libpq layer")
struct PostgresLayerTests {
    @Test("parameters round-trip through every supported type, NULLs explicit, injection-shaped text verbatim")
    func valueRoundTrips() throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let connection = try database.connect()
        let when = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let result = try connection.query(
            """
            SELECT $1::text AS t, $2::int8 AS i, $3::float8 AS d, $4::bool AS b, $5::timestamptz AS ts, $6::jsonb AS j,
                   $7::text[] AS arr, $8::text AS nothing, $9::float8 AS inf
            """,
            [
                Fixtures.hostileName, Int64.max, 1.0 / 3, true, when, PostgresValue.json("{\"k\": [1, \"two\"]}"),
                ["plain", "with space", "quote\"d", "back\\slash", "comma,here", "NULL", "{braces}"], PostgresValue.null, Double.infinity,
            ])
        #expect(result.string(0, "t") == Fixtures.hostileName)
        #expect(result.int(0, "i") == Int(Int64.max))
        #expect(result.double(0, "d") == 1.0 / 3)
        #expect(result.bool(0, "b") == true)
        #expect(abs(result.date(0, "ts")!.timeIntervalSince(when)) < 1e-6)
        #expect(result.json(0, "j") == "{\"k\": [1, \"two\"]}")
        #expect(result.textArray(0, "arr") == ["plain", "with space", "quote\"d", "back\\slash", "comma,here", "NULL", "{braces}"])
        #expect(result.string(0, "nothing") == nil)
        #expect(result.double(0, "inf") == .infinity)
        #expect(throws: PostgresError.self) { try result.require(0, "nothing", result.string) }
    }

    @Test("numbers are read from libpq's text in place: extremes, special values, and text that is not a number is refused")
    func numbersInPlace() throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let connection = try database.connect()
        let result = try connection.query(
            """
            SELECT (-9223372036854775808)::int8 AS min, 9223372036854775807::int8 AS max, (-0)::int4 AS zero, '+7' AS plus,
                   '-Infinity'::float8 AS ninf, 'NaN'::float8 AS nan, 4.9e-324::float8 AS tiny, '-0'::float8 AS nzero,
                   1.7976931348623157e308::float8 AS huge, 'abc' AS word, '' AS empty, '12x' AS trailing, '-' AS sign,
                   '99999999999999999999' AS overflow, '1e400' AS toolarge, true AS yes, false AS no
            """)
        #expect(result.int(0, "min") == Int.min && result.int(0, "max") == Int.max && result.int(0, "zero") == 0 && result.int(0, "plus") == 7)
        #expect(result.double(0, "ninf") == -.infinity && result.double(0, "nan")!.isNaN)
        #expect(result.double(0, "tiny") == Double.leastNonzeroMagnitude && result.double(0, "huge") == Double.greatestFiniteMagnitude)
        #expect(result.double(0, "nzero") == 0 && result.double(0, "nzero")!.sign == .minus)
        for column in ["word", "empty", "trailing", "sign", "overflow"] {
            #expect(result.int(0, column) == nil, "int of '\(column)'")
            #expect(throws: PostgresError.self) { try result.require(0, column, result.int) }
        }
        for column in ["word", "empty", "trailing", "sign"] { #expect(result.double(0, column) == nil, "double of '\(column)'") }
        #expect(result.double(0, "toolarge") == .infinity)  // (as Double("1e400") reads it)
        #expect(result.bool(0, "yes") == true && result.bool(0, "no") == false)
    }

    @Test("binary results decode to exactly what text results do, for every type they support")
    func binaryResults() throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let connection = try database.connect()
        let sql = """
            SELECT v.* FROM (VALUES
                ($1::text, 7::int2, (-2147483648)::int4, 9223372036854775807::int8, 1.5::float4, (1.0 / 3)::float8, true,
                 '2026-11-30 12:34:56.789012+00'::timestamptz, '2026-11-30 12:34:56.000001'::timestamp, '{"k": [1, "two"]}'::jsonb,
                 'x'::varchar, 'Infinity'::float8),
                ('', (-32768)::int2, 0, (-9223372036854775808)::int8, '-Infinity'::float4, '-0'::float8, false,
                 '1969-07-20 20:17:40.5+00'::timestamptz, '-infinity'::timestamp, '[]'::jsonb, NULL, 'NaN'::float8),
                (NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'infinity'::timestamptz, NULL, NULL, NULL, 4.9e-324::float8)
            ) AS v(t, s, i, l, f, d, b, ts, tsl, j, vc, special)
            """
        let text = try connection.query(sql, [Fixtures.hostileName])
        let binary = try connection.query(sql, [Fixtures.hostileName], binaryResults: true)
        #expect(binary.rowCount == 3 && binary.columns == text.columns)
        func same(_ left: Double?, _ right: Double?) -> Bool { left == right || (left?.isNaN == true && right?.isNaN == true) }
        for row in 0..<3 {
            for column in ["t", "vc", "j"] { #expect(binary.string(row, column) == text.string(row, column), "\(column), row \(row)") }
            for column in ["s", "i", "l"] {
                #expect(binary.int(row, column) == text.int(row, column), "\(column), row \(row)")
                #expect(binary.double(row, column) == text.double(row, column), "\(column) as a double, row \(row)")
            }
            for column in ["f", "d", "special"] { #expect(same(binary.double(row, column), text.double(row, column)), "\(column), row \(row)") }
            #expect(binary.double(row, "d")?.sign == text.double(row, "d")?.sign)
            #expect(binary.bool(row, "b") == text.bool(row, "b"))
            for column in ["ts", "tsl"] {
                #expect(binary.date(row, column) == text.date(row, column), "\(column), row \(row)")
                #expect(binary.string(row, column).flatMap(PostgresTimestamp.parse) == text.date(row, column))
            }
        }
        #expect(binary.date(0, "ts") == Date(timeIntervalSince1970: 1_796_042_096) + 0.789012)
        #expect(binary.int(0, "t") == nil && binary.date(0, "i") == nil && binary.bool(0, "i") == nil, "a cell of another type is not decoded")
        #expect(throws: PostgresError.self) { try binary.require(2, "i", binary.int) }
    }

    @Test("server errors carry SQLSTATE and message; the connection stays usable")
    func serverErrors() throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let connection = try database.connect()
        try connection.execute("CREATE TABLE u (k text PRIMARY KEY)")
        try connection.query("INSERT INTO u VALUES ($1)", ["a"])
        do {
            try connection.query("INSERT INTO u VALUES ($1)", ["a"])
            Issue.record("duplicate accepted")
        } catch let error as PostgresError {
            #expect(error.sqlState == PostgresError.State.uniqueViolation)
            #expect(error.kind == .server)
            #expect(error.message.contains("duplicate key"))
            #expect(!error.isConnectionFailure)
        }
        #expect(try connection.query("SELECT count(*) AS n FROM u").int(0, "n") == 1)
    }

    @Test("a transaction rolls back when its body throws")
    func transactionRollback() throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let connection = try database.connect()
        try connection.execute("CREATE TABLE r (v int)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try connection.transaction {
                try connection.query("INSERT INTO r VALUES ($1)", [1])
                throw Boom()
            }
        }
        #expect(throws: PostgresError.self) {
            try connection.transaction {
                try connection.query("INSERT INTO r VALUES ($1)", [2])
                try connection.query("INSERT INTO r VALUES ($1)", ["not a number"])
            }
        }
        #expect(try connection.query("SELECT count(*) AS n FROM r").int(0, "n") == 0)
        try connection.transaction { try connection.query("INSERT INTO r VALUES ($1)", [3]) }
        #expect(try connection.query("SELECT count(*) AS n FROM r").int(0, "n") == 1)
    }

    @Test("COPY escapes tabs, newlines and backslashes and stores NULLs")
    func copyEscaping() throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let connection = try database.connect()
        try connection.execute("CREATE TABLE c (a text, b text)")
        let rows: [[String?]] = [["tab\there", "new\nline"], ["back\\slash", nil], [Fixtures.hostileName, "\r"]]
        #expect(try connection.copyIn("COPY c (a, b) FROM STDIN", rows: rows) == 3)
        let result = try connection.query("SELECT a, b FROM c ORDER BY a")
        let stored = (0..<result.rowCount).map { [result.string($0, "a"), result.string($0, "b")] }
        #expect(Set(stored.map { $0.map { $0 ?? "<null>" } }) == Set(rows.map { $0.map { $0 ?? "<null>" } }))
    }

    @Test("a bad URL fails with a connection error that hides the password")
    func badURL() {
        do {
            _ = try PostgresConnection(url: "postgresql://u:secret@127.0.0.1:1/db?connect_timeout=2")
            Issue.record("connected to nothing")
        } catch let error as PostgresError {
            #expect(error.kind == .connection)
            #expect(!error.description.contains("secret"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite("Connection pool")
struct ConnectionPoolTests {
    @Test("at most maximumConnections are open; everyone gets served")
    func bounded() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let pool = ConnectionPool(url: database.url, maximumConnections: 3)
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<40 {
                group.addTask {
                    try await pool.withConnection { connection in
                        try connection.query("SELECT pg_sleep(0.01), $1::int AS v", [index]).int(0, "v")!
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(values.sorted() == Array(0..<40))
        let statistics = await pool.statistics
        #expect(statistics.open <= 3)
        let backends = try await pool.withConnection { connection in
            try connection.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()").int(0, "n")!
        }
        #expect(backends <= 3)
        await pool.close()
    }

    @Test("after pg_ctl restart while in use, the pool recovers by itself; callers see at most their in-flight failure")
    func recoversAfterRestart() async throws {
        // A cluster of its own: restarting the shared one would disturb other tests.
        let cluster = EmbeddedPostgres(stateDirectory: URL(fileURLWithPath: "/tmp/splitd-restart-\(getpid())"), durable: false)
        try cluster.start()
        defer {
            try? cluster.forceStop()
            try? FileManager.default.removeItem(at: cluster.stateDirectory)
        }
        let pool = ConnectionPool(url: cluster.url(), maximumConnections: 4)
        // Warm up: every connection open and idle.
        _ = try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = try await pool.withConnection { try $0.query("SELECT pg_sleep(0.02)") } } }
            try await group.waitForAll()
        }
        // Load during the restart: callers keep coming until the test has seen the pool recover.
        let counts = LoadCounts()
        let load = Task {
            while !Task.isCancelled {
                do {
                    _ = try await pool.withConnection { try $0.query("SELECT 1 AS one") }
                    await counts.record(success: true)
                } catch {
                    await counts.record(success: false)
                    try? await Task.sleep(nanoseconds: 50_000_000)  // a caller's back-off, not a wait for the test
                }
            }
        }
        #expect(await eventually { await counts.successes >= 20 }, "the load is served before the restart")
        try cluster.restart()
        let beforeRecovery = await counts.successes
        #expect(await eventually { await counts.successes >= beforeRecovery + 20 }, "the load is served again after the restart")
        load.cancel()
        _ = await load.value
        let failures = await counts.failures
        // After the restart every caller is served again, without anyone resetting the pool.
        for _ in 0..<20 {
            let one = try await pool.withConnection { try $0.query("SELECT 1 AS one").int(0, "one") }
            #expect(one == 1)
        }
        // Only statements in flight around the restart may fail (a handful, not one per idle connection forever).
        #expect(failures < 50, "failures: \(failures)")
        await pool.close()
    }
}

@Suite("Nested transactions")
struct NestedTransactionTests {
    @Test("an inner transaction is a savepoint: the outer one stays atomic, a failing inner one rolls back alone")
    func savepoints() throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let connection = try database.connect()
        try connection.execute("CREATE TABLE n (v int)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try connection.transaction {
                try connection.transaction { try connection.query("INSERT INTO n VALUES ($1)", [1]) }
                throw Boom()
            }
        }
        #expect(try connection.query("SELECT count(*) AS n FROM n").int(0, "n") == 0, "inner commit must not commit the outer transaction")
        try connection.transaction {
            try connection.query("INSERT INTO n VALUES ($1)", [2])
            _ = try? connection.transaction {
                try connection.query("INSERT INTO n VALUES ($1)", [3])
                throw Boom()
            }
            #expect(connection.inTransaction)
        }
        let values = try connection.query("SELECT v FROM n ORDER BY v")
        #expect((0..<values.rowCount).map { values.int($0, "v") } == [2])
        #expect(!connection.inTransaction)
    }
}

actor LoadCounts {
    private(set) var successes = 0
    private(set) var failures = 0

    func record(success: Bool) {
        if success { successes += 1 } else { failures += 1 }
    }
}
