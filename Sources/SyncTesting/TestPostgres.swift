import Foundation
import Logging
import SyncServer
#if PostgreSQL
import PostgresNIO
#endif

/// The server stores a test runs against: SQLite always, PostgreSQL when a cluster is given
/// (`SYNCLAYER_TEST_POSTGRES`, set by scripts/with-postgres, which scripts/test always uses).
package enum TestStoreKind: String, CaseIterable, Sendable {
    case sqlite
    case postgres

    /// The kinds this run can test.
    package static var available: [TestStoreKind] {
        TestPostgres.adminURL == nil ? [.sqlite] : [.sqlite, .postgres]
    }

    /// Where a store of this kind lives for one test: a SQLite file in `directory`, or a new
    /// PostgreSQL database (dropped when `body` returns).
    package func withLocation<T>(in directory: TemporaryDirectory, _ body: (String) async throws -> T) async throws -> T {
        switch self {
        case .sqlite: return try await body(directory.file("server.sqlite"))
        case .postgres: return try await TestPostgres.withDatabase(body)
        }
    }
}

/// A private PostgreSQL cluster for tests (scripts/with-postgres).
package enum TestPostgres {
    /// The cluster's `postgres` database, when a cluster is given.
    package static var adminURL: String? { ProcessInfoEnvironment.value("SYNCLAYER_TEST_POSTGRES") }

    /// Makes a database of its own for `body`, and drops it afterwards.
    package static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        #if PostgreSQL
        guard let admin = adminURL, admin.contains("@/postgres?") else {
            throw TestPostgresError(description: "no PostgreSQL cluster: run under scripts/with-postgres")
        }
        let name = "test_\(UInt64.random(in: 0...UInt64.max) >> 8)"
        var logger = Logger(label: "test.postgres")
        logger.logLevel = .critical
        let client = PostgresClient(configuration: try PostgresLocation(admin).configuration, backgroundLogger: logger)
        let task = Task { await client.run() }
        defer { task.cancel() }
        try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        let url = admin.replacingFirst("@/postgres?", with: "@/\(name)?")
        do {
            let result = try await body(url)
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"), logger: logger)
            return result
        } catch {
            _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"), logger: logger)
            throw error
        }
        #else
        throw TestPostgresError(description: "this build has no PostgreSQL support (the PostgreSQL trait is off)")
        #endif
    }
}

#if PostgreSQL
extension TestPostgres {
    /// A quiet connection of its own to the database at `url`.
    package static func connect(_ url: String) async throws -> (PostgresConnection, Logger) {
        var logger = Logger(label: "test.postgres")
        logger.logLevel = .critical
        return (try await PostgresConnection.connect(configuration: try PostgresLocation(url).connectionConfiguration, id: 99, logger: logger),
                logger)
    }

    /// Runs `sql` on the database at `url`; the first column of each row it returns, as text.
    @discardableResult
    package static func texts(_ url: String, _ sql: String) async throws -> [String] {
        try await withConnection(url) { connection, logger in
            var found: [String] = []
            for try await text in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(String.self) {
                found.append(text)
            }
            return found
        }
    }

    /// Runs `body` with a connection of its own to the database at `url`, closed afterwards.
    package static func withConnection<T>(_ url: String, _ body: (PostgresConnection, Logger) async throws -> T) async throws -> T {
        let (connection, logger) = try await connect(url)
        do {
            let result = try await body(connection, logger)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Makes the database on `connection` refuse every change of record `poison`, as a database
    /// refuses what it cannot store (SQLSTATE 23514, a check violation), once a server has made its
    /// tables.
    package static func refusePoison(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("""
            CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.record_id = 'poison' THEN
                    RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END $$
            """, logger: logger)
        try await connection.query("CREATE TRIGGER refuse_poison BEFORE INSERT ON changes FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
                                   logger: logger)
    }

    /// Ends every other session on the database at `url` (`pg_terminate_backend`), as a PostgreSQL
    /// restart or a lost connection does to the servers on it; returns how many it ended.
    package static func terminateSessions(_ url: String) async throws -> Int {
        try await withConnection(url) { connection, logger in
            var ended = 0
            for try await done in try await connection.query("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                """, logger: logger).decode(Bool.self) where done {
                ended += 1
            }
            return ended
        }
    }

    /// Takes the lock every write transaction needs (the row of `synclayer_head`) on a session of
    /// its own that then goes silent, as an instance cut off mid-transaction does; PostgreSQL ends
    /// that session after `idle` (its `idle_in_transaction_session_timeout`), which frees the lock.
    /// Returns once the lock is held.
    package static func holdHeadLockSilently(_ url: String, idle: Duration) async throws {
        let (connection, logger) = try await connect(url)
        let millis = idle.components.seconds * 1_000 + idle.components.attoseconds / 1_000_000_000_000_000
        try await connection.query(PostgresQuery(unsafeSQL: "SET idle_in_transaction_session_timeout = \(millis)"), logger: logger)
        try await connection.query("BEGIN", logger: logger)
        try await connection.query("SELECT seq FROM synclayer_head FOR UPDATE", logger: logger)
        // Left open: the server ends the session, and the connection with it.
        Task.detached {
            try? await Task.sleep(for: idle + .seconds(30))
            try? await connection.close()
        }
    }
}
#endif

struct TestPostgresError: Error, CustomStringConvertible {
    let description: String
}

extension String {
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

#if PostgreSQL
extension PostgresServerStorage {
    /// Waits until at least `changes` changes wait for the writer's next transaction (commits held
    /// back by a head's lock the test holds); fails the test after 30 s.
    package func waitUntilWaiting(_ changes: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while await waitingChanges() < changes {
            guard ContinuousClock.now < deadline else { throw TestPostgresError(description: "the commits never all waited (\(changes) changes)") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}
#endif
