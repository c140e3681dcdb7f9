import Foundation
import Logging
import Postgres
import Testing
import TestSupport

/// Against the real PostgreSQL that `scripts/test` started, each test in a database of its own.
@Suite struct PostgresTests {
    func withDatabase(_ body: (String) async throws -> Void) async throws {
        let name = TestInfrastructure.uniqueName("pg")
        let url = try await TestInfrastructure.createDatabase(name)
        do {
            try await body(url)
        } catch {
            await TestInfrastructure.dropDatabase(name)
            throw error
        }
        await TestInfrastructure.dropDatabase(name)
    }

    @Test func parametersAreBoundNotInterpolated() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 2)
            try await pool.query("CREATE TABLE t (name text, n int, tags text[])")
            let hostile = "x'); DROP TABLE t; --"
            try await pool.query("INSERT INTO t VALUES ($1, $2, $3)", [hostile, 7, ["a\"b", "c,d"]])
            let rows = try await pool.query("SELECT name, n, tags[1] AS first, tags[2] AS second FROM t")
            let row = try #require(rows.first)
            #expect(try row.string("name") == hostile)
            #expect(try row.int("n") == 7)
            #expect(try row.string("first") == "a\"b")
            #expect(try row.string("second") == "c,d")
            // Quotes, backslashes, characters of several bytes and NULLs keep their places.
            let values: [String?] = ["{\"q\": \"a\\\\b\"}", nil, "Grüße, 東京 👩🏽‍💻", "", "NULL", "\\"]
            let back = try await pool.query("SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS u(v, n) ORDER BY n", [values])
            #expect(try back.map { try $0.optionalString("v") } == values)
        }
    }

    @Test func failedTransactionRollsBackAndReportsSQLState() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 1)
            try await pool.query("CREATE TABLE t (id int PRIMARY KEY)")
            try await pool.query("INSERT INTO t VALUES (1)")
            await #expect {
                try await pool.transaction { connection in
                    try connection.query("INSERT INTO t VALUES (2)")
                    try connection.query("INSERT INTO t VALUES (1)")
                }
            } throws: { error in
                (error as? PostgresError)?.isUniqueViolation == true
            }
            let count = try await pool.query("SELECT count(*) AS n FROM t").first!.int("n")
            #expect(count == 1)
        }
    }

    @Test func skipLockedLetsTwoWorkersTakeDifferentRows() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 2)
            try await pool.query("CREATE TABLE jobs (id int PRIMARY KEY)")
            try await pool.query("INSERT INTO jobs SELECT generate_series(1, 10)")
            let first = PostgresPool(conninfo: url, size: 1)
            let second = PostgresPool(conninfo: url, size: 1)
            // The first transaction holds its rows while the second one picks.
            try await first.withConnection { a in
                try a.query("BEGIN")
                let taken = try a.query("SELECT id FROM jobs ORDER BY id LIMIT 4 FOR UPDATE SKIP LOCKED").map { try $0.int("id") }
                #expect(taken == [1, 2, 3, 4])
                try a.query("COMMIT")
            }
            let held = try await first.withConnection { a -> [Int] in
                try a.query("BEGIN")
                return try a.query("SELECT id FROM jobs ORDER BY id LIMIT 4 FOR UPDATE SKIP LOCKED").map { try $0.int("id") }
            }
            let other = try await second.transaction { b in
                try b.query("SELECT id FROM jobs ORDER BY id LIMIT 4 FOR UPDATE SKIP LOCKED").map { try $0.int("id") }
            }
            _ = try await first.withConnection { a in try a.query("COMMIT") }
            #expect(held == [1, 2, 3, 4])
            #expect(other == [5, 6, 7, 8])
        }
    }

    @Test func asyncTransactionCommitsAcrossAwaitsAndRollsBackWhenItThrows() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 2)
            try await pool.query("CREATE TABLE t (v int)")
            struct Refused: Error {}
            // Statements on both sides of an await commit together.
            try await pool.withSession { session in
                try await session.transaction { session in
                    _ = try await session.run { try $0.query("INSERT INTO t VALUES (1)") }
                    try await Task.sleep(for: .milliseconds(10))
                    // Not visible outside before the commit.
                    #expect(try await pool.query("SELECT count(*) AS n FROM t").first?.int("n") == 0)
                    _ = try await session.run { try $0.query("INSERT INTO t VALUES (2)") }
                }
            }
            #expect(try await pool.query("SELECT count(*) AS n FROM t").first?.int("n") == 2)
            // A throw after a statement rolls it back, and the connection is usable after.
            await #expect(throws: Refused.self) {
                try await pool.withSession { session in
                    try await session.transaction { session in
                        _ = try await session.run { try $0.query("INSERT INTO t VALUES (3)") }
                        throw Refused()
                    }
                }
            }
            #expect(try await pool.query("SELECT sum(v) AS s FROM t").first?.int("s") == 3)
        }
    }

    /// A task on a connection's thread (``PostgresPool/dedicatedExecutors(upTo:)``) makes its statements
    /// where it runs, without a hop; a task elsewhere hops to a connection's thread. One
    /// connection is never given away, and two dedicated tasks, one waiting inside PostgreSQL
    /// for the other's row lock, both finish.
    @Test func aTaskOnADedicatedConnectionThreadMakesItsStatementsWhereItRuns() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 3)
            let executors = pool.dedicatedExecutors(upTo: 5)
            #expect(executors.count == 2)  // the third connection stays for everyone else
            #expect(pool.dedicatedExecutors(upTo: 1).isEmpty)
            let (first, second) = (executors[0], executors[1])
            #expect(first !== second)
            try await pool.query("CREATE TABLE t (id int PRIMARY KEY, v int)")
            try await pool.query("INSERT INTO t VALUES (1, 0)")

            func threads() async throws -> (task: UInt, statement: UInt) {
                let task = UInt(pthread_self())
                let statement = try await pool.withConnection { connection in
                    _ = try connection.query("SELECT 1")
                    return UInt(pthread_self())
                }
                return (task, statement)
            }
            let dedicated = try await withTaskExecutorPreference(first) { try await threads() }
            #expect(dedicated.task == dedicated.statement)
            let elsewhere = try await threads()
            #expect(elsewhere.task != elsewhere.statement)

            // The second task holds the row across an await; the first blocks on it in PostgreSQL,
            // on its own thread, and goes on once the second commits on its own.
            let locked = WakeOnce()
            async let holder: Void = withTaskExecutorPreference(second) {
                try await pool.withSession { session in
                    try await session.transaction { session in
                        _ = try await session.run { try $0.query("UPDATE t SET v = v + 1 WHERE id = 1") }
                        locked.fire()
                        try await Task.sleep(for: .milliseconds(200))
                        _ = try await session.run { try $0.query("UPDATE t SET v = v * 10 WHERE id = 1") }
                    }
                }
            }
            await locked.wait()
            try await withTaskExecutorPreference(first) {
                try await pool.transaction { try $0.query("UPDATE t SET v = v + 5 WHERE id = 1") }
            }
            try await holder
            #expect(try await pool.query("SELECT v FROM t WHERE id = 1").first?.int("v") == 15)
        }
    }

    /// BEGIN travels with a transaction's first statement (one round trip): the statement still
    /// runs inside the transaction, a failing first statement rolls back cleanly, and an empty
    /// transaction sends nothing.
    @Test func beginTravelsWithTheFirstStatementAndKeepsItsMeaning() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 1)
            try await pool.query("CREATE TABLE t (id int PRIMARY KEY)")
            struct Refused: Error {}
            // The first statement is inside: a throw after it rolls it back.
            await #expect(throws: Refused.self) {
                try await pool.transaction { connection in
                    try connection.query("INSERT INTO t VALUES ($1)", [1])
                    throw Refused()
                }
            }
            #expect(try await pool.query("SELECT count(*) AS n FROM t").first!.int("n") == 0)
            // now() is the transaction's start, fixed before the second statement's own timestamp.
            let later = try await pool.transaction { connection -> Bool in
                try connection.query("SELECT pg_sleep(0.01)")
                return try connection.query("SELECT now() < statement_timestamp() AS inside").first!.bool("inside")
            }
            #expect(later)
            await #expect {
                try await pool.transaction { connection in try connection.query("INSERT INTO t VALUES ($1), ($1)", [1]) }
            } throws: { error in (error as? PostgresError)?.isUniqueViolation == true }
            try await pool.transaction { _ in }  // nothing sent: no BEGIN, no COMMIT
            _ = try await pool.transaction { connection in try connection.query("INSERT INTO t VALUES ($1)", [2]) }
            #expect(try await pool.query("SELECT array_agg(id)::text AS ids FROM t").first!.string("ids") == "{2}")
        }
    }

    /// A statement `send` queues goes with the transaction's next statement or its COMMIT, in the
    /// same round trip, and keeps its meaning: the next statement sees its effect; its failure is
    /// thrown there, with its own error, and rolls the whole transaction back; a rollback drops it.
    @Test func aSentStatementTravelsWithTheNextOneAndKeepsItsMeaning() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 1)
            try await pool.query("CREATE TABLE t (id int PRIMARY KEY)")
            // Round trips of one transaction; the second time, every statement is prepared already.
            func insertThree(from first: Int) async throws -> (trips: Int, seenInside: Int) {
                try await pool.withConnection { connection in
                    let before = connection.roundTrips
                    let seen = try connection.transaction { connection -> Int in
                        try connection.query("INSERT INTO t VALUES ($1)", [first])  // with BEGIN
                        try connection.send("INSERT INTO t VALUES ($1)", [first + 1])
                        let seen = try connection.query("SELECT count(*) AS n FROM t WHERE id >= $1", [first]).first!.int("n")
                        try connection.send("INSERT INTO t VALUES ($1)", [first + 2])  // with COMMIT
                        return seen
                    }
                    return (connection.roundTrips - before, seen)
                }
            }
            _ = try await insertThree(from: 1)
            let second = try await insertThree(from: 11)
            #expect(second.trips == 3)
            #expect(second.seenInside == 2)
            #expect(try await pool.query("SELECT array_agg(id ORDER BY id)::text AS ids FROM t").first!.string("ids") == "{1,2,3,11,12,13}")

            // Only sent statements: BEGIN, them and COMMIT in one round trip.
            let trips = try await pool.withConnection { connection in
                let before = connection.roundTrips
                try connection.transaction { connection in
                    try connection.send("INSERT INTO t VALUES ($1)", [21])
                    try connection.send("INSERT INTO t VALUES ($1)", [22])
                }
                return connection.roundTrips - before
            }
            #expect(trips == 1)

            // A sent statement that fails fails the COMMIT with its own error; nothing stays.
            await #expect {
                try await pool.transaction { connection in
                    try connection.query("INSERT INTO t VALUES ($1)", [31])
                    try connection.send("INSERT INTO t VALUES ($1)", [1])
                }
            } throws: { error in (error as? PostgresError)?.isUniqueViolation == true }
            // …or the next statement, which does not run.
            await #expect {
                try await pool.transaction { connection in
                    try connection.send("INSERT INTO t VALUES ($1)", [1])
                    try connection.query("INSERT INTO t VALUES ($1)", [32])
                }
            } throws: { error in (error as? PostgresError)?.isUniqueViolation == true }
            // A transaction that throws drops what it sent: the statement never ran.
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                try await pool.transaction { connection in
                    try connection.query("INSERT INTO t VALUES ($1)", [33])
                    try connection.send("INSERT INTO t VALUES ($1)", [1])
                    throw Refused()
                }
            }
            // Outside a transaction it runs at once; the connection is fine after the failures.
            try await pool.withConnection { connection in try connection.send("INSERT INTO t VALUES ($1)", [41]) }
            #expect(try await pool.query("SELECT array_agg(id ORDER BY id)::text AS ids FROM t WHERE id > 20").first!.string("ids") == "{21,22,41}")
        }
    }

    /// A connection lost between two statements of one transaction: the next statement does not
    /// run outside the transaction on the new connection; it fails, and the caller starts again.
    @Test func aConnectionLostInsideATransactionFailsItsNextStatement() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 1)
            let admin = PostgresPool(conninfo: TestInfrastructure.postgresAdminURL, size: 1)
            try await pool.query("CREATE TABLE t (v int)")
            await #expect(throws: PostgresError.self) {
                try await pool.withSession { session in
                    try await session.transaction { session in
                        let pid = try await session.run { try $0.query("INSERT INTO t VALUES (1) RETURNING pg_backend_pid() AS pid").first!.int("pid") }
                        try await admin.query("SELECT pg_terminate_backend($1)", [pid])
                        try await Task.sleep(for: .milliseconds(100))
                        _ = try await session.run { try $0.query("INSERT INTO t VALUES (2)") }
                    }
                }
            }
            #expect(try await pool.query("SELECT count(*) AS n FROM t").first!.int("n") == 0)
        }
    }

    @Test func poolReconnectsAfterTheServerDroppedItsConnection() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 1)
            let pid = try await pool.query("SELECT pg_backend_pid() AS pid").first!.int("pid")
            let admin = PostgresPool(conninfo: TestInfrastructure.postgresAdminURL, size: 1)
            try await admin.query("SELECT pg_terminate_backend($1)", [pid])
            try await Task.sleep(for: .milliseconds(200))  // the server has closed it by now
            // The connection died while idle in the pool: the next statement sees that before it is
            // sent, and runs on a new connection (only a statement in flight would have failed).
            let after = try await pool.query("SELECT pg_backend_pid() AS pid").first!.int("pid")
            #expect(after != pid)
            // The same inside a transaction whose BEGIN travels with its first statement.
            try await admin.query("SELECT pg_terminate_backend($1)", [after])
            try await Task.sleep(for: .milliseconds(200))
            let third = try await pool.transaction { try $0.query("SELECT pg_backend_pid() AS pid").first!.int("pid") }
            #expect(third != after)
        }
    }

    /// Each connection names its pool to the server (`pg_stat_activity`), unless the URL names
    /// it otherwise.
    @Test func aConnectionCarriesItsPoolsNameUnlessTheURLGivesOne() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 1, label: "catalog")
            let name = try await pool.query("SELECT current_setting('application_name') AS name").first!.string("name")
            #expect(name == "catalog")
            let named = PostgresPool(conninfo: url + (url.contains("?") ? "&" : "?") + "application_name=mine", size: 1, label: "catalog")
            let given = try await named.query("SELECT current_setting('application_name') AS name").first!.string("name")
            #expect(given == "mine")
        }
    }

    /// A server that takes the TCP connection and never answers (stopped with SIGSTOP, say) fails
    /// the attempt after `connect_timeout`, as an outage the caller retries, instead of holding
    /// the connection's thread for as long as it lasts. 10 s unless the URL says otherwise.
    @Test func aServerThatNeverAnswersFailsTheConnectionAttempt() async throws {
        let (listener, port) = try TestInfrastructure.silentListener()
        defer { close(listener) }

        let clock = ContinuousClock()
        for (url, bounds) in [
            ("postgresql://nobody@127.0.0.1:\(port)/none?connect_timeout=2", Duration.seconds(1)...Duration.seconds(6)),
            ("postgresql://nobody@127.0.0.1:\(port)/none", Duration.seconds(8)...Duration.seconds(16)),
        ] {
            let started = clock.now
            let pool = PostgresPool(conninfo: url, size: 1)
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
            #expect(error?.isUnavailable == true, "\(String(describing: error))")
            #expect(bounds.contains(clock.now - started), "\(url): \(clock.now - started)")
        }
    }

    /// A probe's question: a database that answers says yes at once; one that never answers,
    /// no once the limit passed, while its statement still waits.
    @Test func aProbeOfADatabaseThatNeverAnswersSaysNoInTime() async throws {
        let (listener, port) = try TestInfrastructure.silentListener()
        defer { close(listener) }
        let clock = ContinuousClock()
        // The attempt itself would fail after 30 s; the answer must come long before (the bound is
        // loose: in the whole suite's load a timer fires late).
        let silent = PostgresPool(conninfo: "postgresql://nobody@127.0.0.1:\(port)/none?connect_timeout=30", size: 1)
        let started = clock.now
        #expect(await silent.answers(within: .milliseconds(300)) == false)
        #expect(clock.now - started < .seconds(15), "\(clock.now - started)")
        try await withDatabase { url in
            #expect(await PostgresPool(conninfo: url, size: 1).answers(within: .seconds(5)))
        }
    }

    @Test func migratorAppliesOnceAndRefusesAChangedMigration() async throws {
        try await withDatabase { url in
            let pool = PostgresPool(conninfo: url, size: 1)
            let migrator = PostgresMigrator()
            let migrations = [
                PostgresMigrator.Migration(version: 1, name: "001_a", sql: "CREATE TABLE a (id int); CREATE TABLE b (id int);"),
                PostgresMigrator.Migration(version: 2, name: "002_c", sql: "CREATE TABLE c (id int);"),
            ]
            #expect(try await migrator.migrate(migrations, pool: pool) == ["001_a", "002_c"])
            #expect(try await migrator.migrate(migrations, pool: pool) == [])
            let changed = [PostgresMigrator.Migration(version: 1, name: "001_a", sql: "CREATE TABLE a (id bigint);")]
            await #expect(throws: PostgresError.self) { try await migrator.migrate(changed, pool: pool) }
            let broken = [PostgresMigrator.Migration(version: 3, name: "003_bad", sql: "CREATE TABLE d (id int); SELECT nope;")]
            await #expect(throws: PostgresError.self) { try await migrator.migrate(migrations + broken, pool: pool) }
            // The failed migration left nothing behind.
            let d = try await pool.query("SELECT to_regclass('d') IS NULL AS missing").first!.bool("missing")
            #expect(d)
        }
    }
}

/// Wakes one waiter, once.
final class WakeOnce: Sendable {
    private let stream = AsyncStream<Void>.makeStream()
    func fire() { stream.continuation.yield() }
    func wait() async { for await _ in stream.stream { return } }
}
