import SyncCore

/// Opens a store's database: the writer connection with its pragmas and migrations, the node id, the
/// writer's starting state, and the reader connections. Shared by the node's and the server's stores.
package enum StoreOpener {
    package struct Opened {
        package let writer: SQLiteConnection
        package let readers: [SQLiteConnection]
        package let nodeID: NodeID
        package let state: WriterState
    }

    package static func open(path: String, durability: Durability, migrations: Migrations, wallClock: any WallClock,
                     maxClockDriftMillis: UInt64, readerCount: Int) throws(StoreError) -> Opened {
        let (connection, nodeID, state) = try wrap { () throws(SQLiteError) -> (SQLiteConnection, NodeID, WriterState) in
            let connection = try SQLiteConnection(path: path)
            try connection.execute("PRAGMA journal_mode = WAL")
            try connection.execute("PRAGMA synchronous = \(durability.synchronousPragma)")
            try connection.execute("PRAGMA temp_store = MEMORY")
            // The writer checkpoints on its own thread (WriterCore.checkpointPages), never inside a commit.
            connection.takeOverCheckpoints()
            try connection.execute("PRAGMA journal_size_limit = 67108864")
            // A 16 MiB page cache, so a large batch (saveAll) commits without spilling pages mid-transaction.
            try connection.execute("PRAGMA cache_size = -16384")
            try migrations.apply(to: connection)
            let (signer, nodeID) = try identity(connection)
            var vector = try DocumentTable.vector(connection)
            let ownSeq = UInt64(bitPattern: try connection.scalarInt("SELECT max(seq) FROM changes WHERE origin = ?1", .text(nodeID.rawValue)) ?? 0)
            vector[nodeID] = max(vector[nodeID], ownSeq)
            let ownHLC = try connection.scalarInt("SELECT max(hlc) FROM changes WHERE origin = ?1 AND seq = ?2",
                                                  .text(nodeID.rawValue), .int(Int64(bitPattern: ownSeq))) ?? 0
            var clock = HybridLogicalClock(last: HLCTimestamp(rawValue: UInt64(bitPattern: ownHLC)), maxDriftMillis: maxClockDriftMillis)
            let remoteHLC = try connection.scalarInt("SELECT max(max_hlc) FROM origins") ?? 0
            clock.observe(HLCTimestamp(rawValue: UInt64(bitPattern: remoteHLC)), physicalMillis: wallClock.nowMillis())
            // Origins holding a change above their contiguous mark (one that arrived after a gap).
            var originsAhead: Set<NodeID> = []
            let ahead = try connection.statement("""
                SELECT origin FROM origins AS o
                WHERE EXISTS (SELECT 1 FROM changes AS c WHERE c.origin = o.origin AND c.seq > o.contiguous)
                """)
            while try ahead.step() {
                if let origin = NodeID(ahead.text(0)) { originsAhead.insert(origin) }
            }
            connection.resetUsedStatements()
            return (connection, nodeID, WriterState(clock: clock, nextSeq: vector[nodeID] + 1, vector: vector,
                                                    originsAhead: originsAhead, signer: signer))
        }
        var readers: [SQLiteConnection] = []
        for _ in 0..<max(1, readerCount) {
            let reader = try wrap { () throws(SQLiteError) in try SQLiteConnection(path: path, readOnly: true, create: false) }
            try wrap { () throws(SQLiteError) in try reader.execute("PRAGMA query_only = 1") }
            readers.append(reader)
        }
        return Opened(writer: connection, readers: readers, nodeID: nodeID, state: state)
    }

    /// The signing key, and the node id derived from it. A store made before signing existed keeps its
    /// random id and gets a key now: its signatures do not bind (see Docs/Security.md). Two processes
    /// may open a new file at once (a node starting while `synclayer put` writes to it): under the
    /// write lock, each offers a key with INSERT OR IGNORE, and both read back the one that won.
    private static func identity(_ connection: SQLiteConnection) throws(SQLiteError) -> (ChangeSigner, NodeID) {
        try connection.execute("BEGIN IMMEDIATE")
        try connection.run("INSERT OR IGNORE INTO meta(key, value) VALUES ('signing_key', ?1)",
                           .text(Base64.encode(ChangeSigner().rawRepresentation)))
        guard let text = try connection.scalarText("SELECT value FROM meta WHERE key = 'signing_key'"),
              let bytes = Base64.decode(text), let signer = ChangeSigner(rawRepresentation: bytes) else {
            throw SQLiteError(code: 11, message: "the store's signing key is not a key")
        }
        try connection.run("INSERT OR IGNORE INTO meta(key, value) VALUES ('node_id', ?1)", .text(signer.nodeID.rawValue))
        guard let idText = try connection.scalarText("SELECT value FROM meta WHERE key = 'node_id'"), let nodeID = NodeID(idText) else {
            throw SQLiteError(code: 11, message: "the store's node id is malformed")
        }
        connection.resetUsedStatements()
        try connection.execute("COMMIT")
        return (signer, nodeID)
    }

    /// Gives the existing store at `path` another identity: for a copy of a store that must keep
    /// its original's (`synclayer server migrate`), while the store holds no changes and is closed.
    package static func replaceIdentity(nodeID: NodeID, signer: ChangeSigner, path: String) throws(StoreError) {
        try wrap { () throws(SQLiteError) in
            let connection = try SQLiteConnection(path: path, create: false)
            try connection.run("INSERT OR REPLACE INTO meta(key, value) VALUES ('signing_key', ?1), ('node_id', ?2)",
                               .text(Base64.encode(signer.rawRepresentation)), .text(nodeID.rawValue))
        }
    }
}

extension Durability {
    /// The `synchronous` setting that gives this durability in WAL mode.
    package var synchronousPragma: String {
        switch self {
        case .processCrash: return "NORMAL"
        case .powerLoss: return "FULL"
        }
    }
}
