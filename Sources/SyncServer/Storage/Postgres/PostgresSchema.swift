#if PostgreSQL
import Logging
import PostgresNIO
import SyncCore
import SyncStore

/// The PostgreSQL tables, their versions, and what a store reads from them when it opens.
///
/// The same tables as the SQLite server store (`ServerMigrations.swift`), with `COLLATE "C"` on every
/// key that is ordered or compared (so digests, which list documents in id order, equal SQLite's
/// byte order) and canonical JSON kept as `text` (never `jsonb`, which reorders keys). Plus
/// `synclayer_head`, the one row every write transaction locks (`PostgresServerStorage`).
enum PostgresSchema {
    /// Each version's statements, applied in order, each version once, recorded in
    /// `synclayer_meta.schema_version`.
    static let versions: [String] = [
        """
        CREATE TABLE documents(
            collection text COLLATE "C" NOT NULL,
            id text COLLATE "C" NOT NULL,
            body text NOT NULL,
            clocks text NOT NULL,
            visible boolean NOT NULL,
            updated_seq bigint NOT NULL DEFAULT 0,
            updated_at bigint NOT NULL DEFAULT 0,
            PRIMARY KEY(collection, id)
        );
        CREATE INDEX documents_updated ON documents(collection, updated_seq);
        CREATE TABLE changes(
            server_seq bigint PRIMARY KEY,
            origin text COLLATE "C" NOT NULL,
            seq bigint NOT NULL,
            hlc bigint NOT NULL,
            collection text COLLATE "C" NOT NULL,
            record_id text COLLATE "C" NOT NULL,
            kind smallint NOT NULL,
            fields text NOT NULL,
            received_at bigint NOT NULL,
            sig text,
            UNIQUE(origin, seq)
        );
        CREATE TABLE origins(origin text COLLATE "C" PRIMARY KEY, contiguous bigint NOT NULL, max_hlc bigint NOT NULL DEFAULT 0);
        CREATE TABLE synclayer_head(id smallint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL);
        INSERT INTO synclayer_head(id, seq) VALUES (1, 0);
        """,
        // 2: a document's update changes no indexed column and finds room on its page, so
        // PostgreSQL can keep it there (a HOT update) instead of adding an entry to every index of
        // `documents` for each version. With `updated_seq` indexed no update could be HOT, and with
        // three instances the versions in the primary key's leaves doubled PostgreSQL's CPU per
        // change (`Docs/Benchmarks.md`, 2026-12-07). The original protocol's REST pull, the only
        // reader of that index, reads a collection's rows and sorts the page instead: faster for a
        // poll of recent changes, slower for the first pages of a full pull (same document).
        """
        DROP INDEX IF EXISTS documents_updated;
        ALTER TABLE documents SET (fillfactor = 70)
        """,
        // 3: each document's row says which transaction wrote it (a random id), so that an instance
        // can tell the version its own commit wrote from any other, a restored database's included,
        // and keep the documents it wrote in memory (`PostgresDocumentCache`). The column is in no
        // index: updates stay on their page.
        """
        ALTER TABLE documents ADD COLUMN IF NOT EXISTS updated_commit bigint NOT NULL DEFAULT 0
        """,
    ]

    struct Opened {
        let serverID: NodeID
        let signer: ChangeSigner
        let head: UInt64
        let vector: VersionVector
        let clock: HybridLogicalClock
    }

    /// Brings the schema to the newest version (one instance at a time: an advisory lock), makes the
    /// cluster's identity if it has none, and reads what a store starts from.
    static func open(_ client: PostgresClient, wallClock: any WallClock, limits: ServerStorageLimits, logger: Logger,
                     location: PostgresLocation) async throws -> Opened {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7213001)", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS synclayer_meta(key text COLLATE \"C\" PRIMARY KEY, value text NOT NULL)",
                                       logger: logger)
            let version = Int(try await meta("schema_version", connection, logger) ?? "0") ?? 0
            guard version <= versions.count else {
                throw PostgresStorageError("the database at \(location) has schema version \(version); this server knows up to \(versions.count): "
                    + "upgrade the server")
            }
            for (index, statements) in versions.enumerated() where index >= version {
                for statement in statements.split(separator: ";").map({ $0.trimmingCharacters() }) where !statement.isEmpty {
                    try await connection.query(PostgresQuery(unsafeSQL: String(statement)), logger: logger)
                }
                try await setMeta("schema_version", String(index + 1), connection, logger)
            }
            if version < versions.count {
                logger.info("PostgreSQL schema migrated", metadata: ["synclayer.schema.from": "\(version)", "synclayer.schema.to": "\(versions.count)"])
            }
            // The cluster's identity, shared by every instance: the server id and its signing key.
            let signer: ChangeSigner
            if let text = try await meta("signing_key", connection, logger), let bytes = Base64.decode(text),
               let key = ChangeSigner(rawRepresentation: bytes) {
                signer = key
            } else {
                signer = ChangeSigner()
                try await setMeta("signing_key", Base64.encode(signer.rawRepresentation), connection, logger)
            }
            let serverID: NodeID
            if let text = try await meta("server_id", connection, logger), let id = NodeID(text) {
                serverID = id
            } else {
                serverID = signer.nodeID
                try await setMeta("server_id", serverID.rawValue, connection, logger)
            }
            var head: UInt64 = 0
            for try await seq in try await connection.query("SELECT seq FROM synclayer_head WHERE id = 1", logger: logger).decode(Int64.self) {
                head = UInt64(bitPattern: seq)
            }
            var vector = VersionVector()
            var maxHLC: UInt64 = 0
            for try await (origin, contiguous, hlc) in try await connection.query("SELECT origin, contiguous, max_hlc FROM origins", logger: logger)
                .decode((String, Int64, Int64).self) {
                if let origin = NodeID(origin) { vector[origin] = UInt64(bitPattern: contiguous) }
                maxHLC = max(maxHLC, UInt64(bitPattern: hlc))
            }
            var clock = HybridLogicalClock(maxDriftMillis: limits.maxClockDriftMillis)
            _ = clock.observe(HLCTimestamp(rawValue: maxHLC), physicalMillis: wallClock.nowMillis())
            return Opened(serverID: serverID, signer: signer, head: head, vector: vector, clock: clock)
        }
    }

    /// Gives the cluster at `location` another identity: for a copy of a store that must keep its
    /// original's (`synclayer server migrate`), while the database holds no changes and no server runs on it.
    static func replaceIdentity(serverID: NodeID, signer: ChangeSigner, at location: PostgresLocation, logger: Logger) async throws {
        let connection = try await PostgresConnection.connect(configuration: location.connectionConfiguration, id: 1, logger: logger)
        do {
            try await setMeta("signing_key", Base64.encode(signer.rawRepresentation), connection, logger)
            try await setMeta("server_id", serverID.rawValue, connection, logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    static func meta(_ key: String, _ connection: PostgresConnection, _ logger: Logger) async throws -> String? {
        var found: String?
        for try await value in try await connection.query("SELECT value FROM synclayer_meta WHERE key = \(key)", logger: logger).decode(String.self) {
            found = value
        }
        return found
    }

    static func setMeta(_ key: String, _ value: String, _ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.query("""
            INSERT INTO synclayer_meta(key, value) VALUES (\(key), \(value)) ON CONFLICT (key) DO UPDATE SET value = excluded.value
            """, logger: logger)
    }
}

extension Substring {
    /// Without leading and trailing spaces and newlines.
    fileprivate func trimmingCharacters() -> Substring {
        var text = self
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }
}
#endif

#if PostgreSQL
/// A row of `changes` as every reader selects it:
/// `server_seq, origin, seq, hlc, collection, record_id, kind, fields, sig`.
struct PostgresChangeRow {
    typealias Columns = (Int64, String, Int64, Int64, String, String, Int16, String, String?)

    let serverSeq: UInt64
    let origin: NodeID
    let seq: UInt64
    private let columns: Columns

    init(_ columns: Columns) throws {
        (self.origin, _) = try Self.identity(origin: columns.1, kind: columns.6)
        self.serverSeq = UInt64(bitPattern: columns.0)
        self.seq = UInt64(bitPattern: columns.2)
        self.columns = columns
    }

    /// A row's origin and kind, read; a row with either unreadable is corrupt.
    static func identity(origin: String, kind: Int16) throws -> (NodeID, Change.Kind) {
        guard let origin = NodeID(origin), let kind = ChangeKindCode.kind(Int64(kind)) else {
            throw StoreError(.corrupted, "unreadable row in the server's change log")
        }
        return (origin, kind)
    }

    /// The change, its fields parsed (done only for rows that are used).
    func change(_ parser: JSONParser) throws -> Change {
        Change(id: ChangeID(origin: origin, seq: seq), hlc: HLCTimestamp(rawValue: UInt64(bitPattern: columns.3)), collection: columns.4,
               recordID: columns.5, kind: ChangeKindCode.kind(Int64(columns.6)) ?? .insert, fields: try parser.parseObject(Array(columns.7.utf8)),
               signature: columns.8.map { ChangeSignature(wireText: $0) })
    }
}
#endif
