import BenchmarkSupport
import CSQLite

/// The baseline: the same inserts and queries done with raw SQLite calls and nothing else.
final class RawSQLite {
    let db: OpaquePointer

    init(path: String, synchronous: String) {
        var handle: OpaquePointer?
        precondition(sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK)
        db = handle!
        exec("PRAGMA journal_mode = WAL")
        exec("PRAGMA synchronous = \(synchronous)")
        exec("CREATE TABLE IF NOT EXISTS documents(collection TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY(collection, id)) WITHOUT ROWID")
    }

    deinit {
        sqlite3_close_v2(db)
    }

    func exec(_ sql: String) {
        precondition(sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK, String(cString: sqlite3_errmsg(db)))
    }

    func prepare(_ sql: String) -> OpaquePointer {
        var statement: OpaquePointer?
        precondition(sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, String(cString: sqlite3_errmsg(db)))
        return statement!
    }

    /// One durable transaction per insert; returns each one's duration in seconds.
    @discardableResult
    func insertEach(ids: [String], body: String) -> [Double] {
        let insert = prepare("INSERT INTO documents(collection, id, body) VALUES ('items', ?1, ?2)")
        defer { sqlite3_finalize(insert) }
        var latencies: [Double] = []
        latencies.reserveCapacity(ids.count)
        for id in ids {
            let started = now()
            exec("BEGIN IMMEDIATE")
            sqlite3_bind_text(insert, 1, id, -1, csqlite_transient())
            sqlite3_bind_text(insert, 2, body, -1, csqlite_transient())
            precondition(sqlite3_step(insert) == SQLITE_DONE)
            sqlite3_reset(insert)
            exec("COMMIT")
            latencies.append(now() - started)
        }
        return latencies
    }

    /// All inserts in one transaction.
    func insertBatch(ids: [String], body: String) {
        let insert = prepare("INSERT INTO documents(collection, id, body) VALUES ('batch', ?1, ?2)")
        defer { sqlite3_finalize(insert) }
        exec("BEGIN IMMEDIATE")
        for id in ids {
            sqlite3_bind_text(insert, 1, id, -1, csqlite_transient())
            sqlite3_bind_text(insert, 2, body, -1, csqlite_transient())
            precondition(sqlite3_step(insert) == SQLITE_DONE)
            sqlite3_reset(insert)
        }
        exec("COMMIT")
    }

    /// Runs a query and reads every row's two text columns; returns the row count.
    func query(_ sql: String) -> Int {
        let statement = prepare(sql)
        defer { sqlite3_finalize(statement) }
        var rows = 0
        var bytes = 0
        while sqlite3_step(statement) == SQLITE_ROW {
            bytes += Int(sqlite3_column_bytes(statement, 0)) + Int(sqlite3_column_bytes(statement, 1))
            _ = sqlite3_column_text(statement, 0)
            _ = sqlite3_column_text(statement, 1)
            rows += 1
        }
        return rows + (bytes < 0 ? 1 : 0)
    }
}
