import SyncCore
import SyncStore
extension Migrations {
    /// The server store's schema.
    static let server = Migrations(list: [
        Migration(name: "v1-server", sql: """
            CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
            -- Documents: same columns as a node's, plus when and by which change they last changed.
            CREATE TABLE documents(
                collection TEXT NOT NULL,
                id TEXT NOT NULL,
                body TEXT NOT NULL,
                clocks TEXT NOT NULL,
                visible INTEGER NOT NULL,
                updated_seq INTEGER NOT NULL DEFAULT 0,
                updated_at INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY(collection, id)
            ) WITHOUT ROWID;
            CREATE INDEX documents_updated ON documents(collection, updated_seq);
            -- Every accepted change, in the server's own order (server_seq), each once.
            CREATE TABLE changes(
                server_seq INTEGER PRIMARY KEY,
                origin TEXT NOT NULL,
                seq INTEGER NOT NULL,
                hlc INTEGER NOT NULL,
                collection TEXT NOT NULL,
                record_id TEXT NOT NULL,
                kind INTEGER NOT NULL,
                fields TEXT NOT NULL,
                received_at INTEGER NOT NULL,
                UNIQUE(origin, seq)
            );
            CREATE TABLE origins(origin TEXT PRIMARY KEY NOT NULL, contiguous INTEGER NOT NULL, max_hlc INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
            """),
        // The origin's signature (ChangeSignature.wireText), passed on to nodes with the change.
        Migration(name: "v2-signatures", sql: "ALTER TABLE changes ADD COLUMN sig TEXT;"),
    ])
}
