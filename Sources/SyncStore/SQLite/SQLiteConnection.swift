import CSQLite

/// One SQLite connection, used by one thread at a time (the connection is opened without its own
/// mutex); prepared statements are cached by their SQL text.
package final class SQLiteConnection {
    package let handle: OpaquePointer
    package let path: String
    private var statements: [String: SQLiteStatement] = [:]
    /// Hot statements keyed by the address of their static SQL text: no hashing of the text.
    private var staticStatements: [UnsafeRawPointer: SQLiteStatement] = [:]
    /// Statements handed out since the last ``resetUsedStatements()``.
    private var used: [SQLiteStatement] = []
    /// WAL pages after the last commit, once ``takeOverCheckpoints()`` installed the WAL hook.
    private let walCounter = WALPageCounter()

    /// Opens (and creates when `create`) the database at `path`.
    package init(path: String, readOnly: Bool = false, create: Bool = true) throws(SQLiteError) {
        _ = Self.configured
        var handle: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE
        flags |= readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0))
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK, let handle else {
            let error = SQLiteError(code: code, connection: handle, sql: nil)
            sqlite3_close_v2(handle)
            throw error
        }
        self.handle = handle
        self.path = path
        sqlite3_extended_result_codes(handle, 0)
        sqlite3_busy_timeout(handle, 10_000)
    }

    /// Process-wide settings, made once before the first connection opens: no memory statistics
    /// (each of SQLite's allocations would otherwise take a global mutex to count its bytes, some
    /// forty a committed change on the server). Nothing here reads them.
    private static let configured: Int32 = csqlite_disable_memory_statistics()

    /// Replaces SQLite's automatic checkpoint (which runs inside whichever commit crosses the
    /// threshold, on the committing thread) with a count of WAL pages: the owner of the connection
    /// reads ``walPages`` after a commit and calls ``checkpoint()`` on a thread of its choosing.
    package func takeOverCheckpoints() {
        sqlite3_wal_hook(handle, { context, _, _, pages in
            Unmanaged<WALPageCounter>.fromOpaque(context!).takeUnretainedValue().pages = Int(pages)
            return SQLITE_OK
        }, Unmanaged.passUnretained(walCounter).toOpaque())
    }

    /// Pages in the write-ahead log after the last commit (0 until ``takeOverCheckpoints()``).
    package var walPages: Int { walCounter.pages }

    /// Copies what the WAL holds into the database file, without waiting for readers (a passive
    /// checkpoint: pages a reader still needs stay in the WAL for the next one).
    package func checkpoint() throws(SQLiteError) {
        try execute("PRAGMA wal_checkpoint(PASSIVE)")
        walCounter.pages = 0
    }

    deinit {
        staticStatements.removeAll()
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return no rows.
    package func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        if code != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_free(message)
            throw SQLiteError(code: code, message: text, sql: sql)
        }
    }

    /// The cached prepared statement for `sql`, reset and with its bindings cleared.
    package func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            used.append(cached)
            return cached
        }
        let statement = try SQLiteStatement(connection: self, sql: sql)
        statements[sql] = statement
        used.append(statement)
        return statement
    }

    /// The cached prepared statement for a static SQL text, looked up by the text's address.
    package func statement(static sql: StaticString) throws(SQLiteError) -> SQLiteStatement {
        let key = UnsafeRawPointer(sql.utf8Start)
        if let cached = staticStatements[key] {
            cached.reset()
            used.append(cached)
            return cached
        }
        let statement = try statement(sql.description)
        staticStatements[key] = statement
        return statement
    }

    /// Resets every statement used since the last call. A statement left on a row holds its read
    /// transaction open, and the connection would go on reading that old snapshot.
    package func resetUsedStatements() {
        for statement in used { statement.reset() }
        used.removeAll(keepingCapacity: true)
    }

    /// The rowid of the last inserted row.
    package var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows changed by the last statement.
    package var changes: Int { Int(sqlite3_changes(handle)) }


    /// The first column of the first row of `sql`, as an integer.
    package func scalarInt(_ sql: String, _ bindings: SQLiteValue...) throws(SQLiteError) -> Int64? {
        let statement = try statement(sql)
        try statement.bind(bindings)
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.int64(0)
    }

    /// The first column of the first row of `sql`, as text.
    package func scalarText(_ sql: String, _ bindings: SQLiteValue...) throws(SQLiteError) -> String? {
        let statement = try statement(sql)
        try statement.bind(bindings)
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.text(0)
    }

    /// Runs a static statement with `bindings` to completion, through the address-keyed cache.
    package func run(static sql: StaticString, _ bindings: SQLiteValue...) throws(SQLiteError) {
        let statement = try statement(static: sql)
        try statement.bind(bindings)
        while try statement.step() {}
    }

    /// Runs `sql` with `bindings` to completion.
    package func run(_ sql: String, _ bindings: SQLiteValue...) throws(SQLiteError) {
        let statement = try statement(sql)
        try statement.bind(bindings)
        while try statement.step() {}
    }
}

/// A value bound to a statement parameter.
package enum SQLiteValue: Sendable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
}

/// The WAL hook's context: written by SQLite's hook and read by the connection's owner, both on the
/// thread that owns the connection at the time.
private final class WALPageCounter {
    var pages = 0
}
