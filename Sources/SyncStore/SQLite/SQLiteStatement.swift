import CSQLite

/// A prepared statement of a ``SQLiteConnection``.
package final class SQLiteStatement {
    package let handle: OpaquePointer
    unowned let connection: SQLiteConnection
    package let sql: String
    /// Each parameter's own storage for text of up to ``slotLimit`` bytes. Text is copied into its
    /// parameter's slot and bound with `SQLITE_STATIC`, so SQLite does not allocate and copy it
    /// again (with `SQLITE_TRANSIENT` every text bound cost SQLite a `malloc`, and each reset a
    /// `free`). A slot is reused by every execution and lives as long as the statement; longer
    /// text is copied by SQLite as before, so a cached statement keeps at most ``slotLimit`` bytes
    /// per parameter. SQLite reads a slot until the statement is reset (``reset()`` also clears
    /// the bindings), its parameter is bound again, or it is finalized.
    private var slots: [UnsafeMutableRawBufferPointer]
    /// The longest text a parameter's slot holds.
    package static let slotLimit = 1024

    package init(connection: SQLiteConnection, sql: String) throws(SQLiteError) {
        var handle: OpaquePointer?
        let code = sqlite3_prepare_v3(connection.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &handle, nil)
        guard code == SQLITE_OK, let handle else {
            throw SQLiteError(code: code, connection: connection.handle, sql: sql)
        }
        self.handle = handle
        self.connection = connection
        self.sql = sql
        self.slots = Array(repeating: UnsafeMutableRawBufferPointer(start: nil, count: 0),
                           count: Int(sqlite3_bind_parameter_count(handle)))
    }

    deinit {
        sqlite3_finalize(handle)
        for slot in slots { slot.deallocate() }
    }

    package func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    package func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        for (offset, value) in values.enumerated() {
            try bind(value, at: Int32(offset + 1))
        }
    }

    package func bind(_ value: SQLiteValue, at index: Int32) throws(SQLiteError) {
        try refuseWhileBusy()
        let code: Int32
        switch value {
        case .null: code = sqlite3_bind_null(handle, index)
        case .int(let int): code = sqlite3_bind_int64(handle, index, int)
        case .double(let double): code = sqlite3_bind_double(handle, index, double)
        case .text(var text): code = text.withUTF8 { bindText(UnsafeRawBufferPointer($0), at: index) }
        }
        guard code == SQLITE_OK else { throw SQLiteError(code: code, connection: connection.handle, sql: sql) }
    }

    package func bind(_ text: String, at index: Int32) throws(SQLiteError) {
        try bind(.text(text), at: index)
    }

    package func bind(_ int: Int64, at index: Int32) throws(SQLiteError) {
        try bind(.int(int), at: index)
    }

    /// Binds UTF-8 bytes as text without building a `String`.
    package func bind(utf8 bytes: [UInt8], at index: Int32) throws(SQLiteError) {
        try refuseWhileBusy()
        let code = bytes.withUnsafeBytes { bindText($0, at: index) }
        guard code == SQLITE_OK else { throw SQLiteError(code: code, connection: connection.handle, sql: sql) }
    }

    /// A statement part way through its rows may still read its parameters' slots: a bind then is
    /// refused before any slot is touched (SQLite would refuse it too, after the slot was written).
    private func refuseWhileBusy() throws(SQLiteError) {
        guard sqlite3_stmt_busy(handle) != 0 else { return }
        throw SQLiteError(code: SQLITE_MISUSE, message: "a parameter was bound while the statement was part way through its rows",
                          sql: sql)
    }

    /// Binds `bytes` as text: copied into the parameter's slot when they fit, else by SQLite. The
    /// statement is not part way through its rows (``refuseWhileBusy()``).
    private func bindText(_ bytes: UnsafeRawBufferPointer, at index: Int32) -> Int32 {
        let position = Int(index) - 1
        guard bytes.count <= Self.slotLimit, slots.indices.contains(position) else {
            // SQLite binds a null pointer as NULL, so empty text needs an address.
            let start = bytes.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start)
            return sqlite3_bind_text(handle, index, start.assumingMemoryBound(to: CChar.self), Int32(bytes.count),
                                     csqlite_transient())
        }
        let held = slots[position]
        let slot: UnsafeMutableRawBufferPointer
        if held.count >= bytes.count, held.baseAddress != nil {
            slot = held
        } else {
            var capacity = 64
            while capacity < bytes.count { capacity *= 2 }
            slot = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        }
        if bytes.count > 0 { slot.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        // A nil destructor is SQLITE_STATIC: SQLite keeps the pointer and does not copy.
        let code = sqlite3_bind_text(handle, index, slot.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil)
        if slot.baseAddress != held.baseAddress {
            // The old slot is free once the new one is bound in its place; if the bind failed,
            // SQLite may still point at the old one, so the new one goes instead.
            if code == SQLITE_OK {
                held.deallocate()
                slots[position] = slot
            } else {
                slot.deallocate()
            }
        }
        return code
    }

    /// Advances to the next row; `false` when the statement is done.
    package func step() throws(SQLiteError) -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(code: code, connection: connection.handle, sql: sql)
        }
    }

    package func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    package func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    package func double(_ column: Int32) -> Double {
        sqlite3_column_double(handle, column)
    }

    package func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    /// Calls `body` with the column's UTF-8 bytes, valid only during the call.
    package func withText<T>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        let pointer = sqlite3_column_text(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        return try body(UnsafeBufferPointer(start: pointer, count: pointer == nil ? 0 : count))
    }
}
