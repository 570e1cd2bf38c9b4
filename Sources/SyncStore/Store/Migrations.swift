/// Named schema migrations, applied in order, each once, each in its own transaction.
package struct Migrations {
    package struct Migration {
        let name: String
        let sql: String

        package init(name: String, sql: String) {
            self.name = name
            self.sql = sql
        }
    }

    package let list: [Migration]

    package init(list: [Migration]) {
        self.list = list
    }

    /// Applies the migrations not yet recorded in `migrations`.
    package func apply(to connection: SQLiteConnection) throws(SQLiteError) {
        try connection.execute("CREATE TABLE IF NOT EXISTS migrations(name TEXT PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL) WITHOUT ROWID")
        for migration in list {
            let done = try connection.scalarInt("SELECT count(*) FROM migrations WHERE name = ?", .text(migration.name)) ?? 0
            connection.resetUsedStatements()
            guard done == 0 else { continue }
            try connection.execute("BEGIN IMMEDIATE")
            do {
                try connection.execute(migration.sql)
                try connection.run("INSERT INTO migrations(name, applied_at) VALUES (?, strftime('%s','now'))", .text(migration.name))
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
    }
}

extension Migrations {
    /// The node store's schema.
    package static let node = Migrations(list: [
        Migration(name: "v1-node", sql: """
            CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
            -- Documents: body is the canonical JSON of the live fields, clocks the merge state.
            CREATE TABLE documents(
                collection TEXT NOT NULL,
                id TEXT NOT NULL,
                body TEXT NOT NULL,
                clocks TEXT NOT NULL,
                visible INTEGER NOT NULL,
                PRIMARY KEY(collection, id)
            ) WITHOUT ROWID;
            -- Every change held, own and others'. acked = 0 is the outbox.
            CREATE TABLE changes(
                origin TEXT NOT NULL,
                seq INTEGER NOT NULL,
                hlc INTEGER NOT NULL,
                collection TEXT NOT NULL,
                record_id TEXT NOT NULL,
                kind INTEGER NOT NULL,
                fields TEXT NOT NULL,
                acked INTEGER NOT NULL DEFAULT 0,
                server_seq INTEGER,
                PRIMARY KEY(origin, seq)
            ) WITHOUT ROWID;
            -- Per origin, every change up to 'through' is acknowledged: the outbox of an origin is its
            -- changes above that mark with acked = 0, found by a range scan of the primary key.
            CREATE TABLE acks(origin TEXT PRIMARY KEY NOT NULL, through INTEGER NOT NULL) WITHOUT ROWID;
            -- The version vector: highest contiguous sequence held per origin.
            CREATE TABLE origins(origin TEXT PRIMARY KEY NOT NULL, contiguous INTEGER NOT NULL, max_hlc INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
            CREATE TABLE cursors(name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE indexes(collection TEXT NOT NULL, path TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY(collection, path)) WITHOUT ROWID;
            """),
        // The origin's signature (ChangeSignature.wireText), as received; NULL for own changes,
        // which are signed as they leave the node.
        Migration(name: "v2-signatures", sql: "ALTER TABLE changes ADD COLUMN sig TEXT;"),
        // v1 created a table for secondary indexes that nothing ever used.
        Migration(name: "v3-no-indexes-table", sql: "DROP TABLE indexes;"),
    ])
}
