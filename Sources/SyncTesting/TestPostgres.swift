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

struct TestPostgresError: Error, CustomStringConvertible {
    let description: String
}

extension String {
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
