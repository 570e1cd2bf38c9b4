import SyncStore
import SyncTesting
import Testing

@Suite struct SQLiteStatementTests {
    /// Text is bound from the statement's own slots (no copy by SQLite) up to the slot limit, and
    /// copied by SQLite above it: either way, each execution reads exactly the text bound for it,
    /// whether the next text is shorter, longer (a new slot), empty, or not ASCII.
    @Test func everyBoundTextIsReadBackExactlyAcrossExecutions() async throws {
        try await withTemporaryDirectory(prefix: "statement") { directory in
            let connection = try SQLiteConnection(path: directory.file("bind.sqlite"))
            try connection.run("CREATE TABLE t(n INTEGER PRIMARY KEY, a TEXT, b TEXT)")
            let limit = SQLiteStatement.slotLimit
            let texts = ["short", String(repeating: "x", count: 200), "", "é ü 漢字 🙂", String(repeating: "y", count: limit),
                         String(repeating: "z", count: limit + 1), "after the long one", String(repeating: "w", count: 5 * limit), "a"]
            for (index, text) in texts.enumerated() {
                let insert = try connection.statement("INSERT INTO t(n, a, b) VALUES (?1, ?2, ?3)")
                try insert.bind(Int64(index), at: 1)
                try insert.bind(text, at: 2)
                try insert.bind(utf8: Array(String(text.reversed()).utf8), at: 3)
                #expect(try insert.step() == false)
            }
            for (index, text) in texts.enumerated() {
                let select = try connection.statement("SELECT a, b, a = ?2, typeof(a) FROM t WHERE n = ?1")
                try select.bind(Int64(index), at: 1)
                try select.bind(text, at: 2)
                #expect(try select.step())
                #expect(select.text(0) == text)
                #expect(select.text(1) == String(text.reversed()))
                #expect(select.int64(2) == 1)
                #expect(select.text(3) == "text", "an empty text is text, not NULL")
            }
        }
    }

    /// A statement part way through its rows still reads its parameters: binding then is refused,
    /// and the rows it goes on to return still match the text bound before.
    @Test func aBindWhileRowsAreBeingReadIsRefusedAndChangesNothing() async throws {
        try await withTemporaryDirectory(prefix: "statement") { directory in
            let connection = try SQLiteConnection(path: directory.file("busy.sqlite"))
            try connection.run("CREATE TABLE t(k TEXT, v INTEGER)")
            for (key, value) in [("k", 1), ("other", 2), ("k", 3), ("k", 4)] {
                let insert = try connection.statement("INSERT INTO t VALUES (?1, ?2)")
                try insert.bind(key, at: 1)
                try insert.bind(Int64(value), at: 2)
                _ = try insert.step()
            }
            let select = try connection.statement("SELECT v FROM t WHERE k = ?1 ORDER BY rowid")
            try select.bind("k", at: 1)
            #expect(try select.step())
            #expect(select.int64(0) == 1)
            let refused = #expect(throws: SQLiteError.self) { try select.bind("other", at: 1) }
            #expect(refused?.message.contains("part way through its rows") == true)
            var rest: [Int64] = []
            while try select.step() { rest.append(select.int64(0)) }
            #expect(rest == [3, 4])
        }
    }
}
