import Logging
import SyncCore

/// A node's durable local store: one SQLite file holding documents, the change log (whose
/// unacknowledged part is the outbox), the version vector and cursors.
///
/// Every write runs on one writer thread and returns only after its transaction committed; a
/// document and the change that wrote it are always committed together. Reads run on their own
/// threads. See `Docs/Architecture.md`.
public final class LocalStore: Sendable {
    /// This node's id, created with the database and stable for its life.
    public let nodeID: NodeID
    /// The database file.
    public let path: String
    /// What a returned write survives.
    public let durability: Durability

    let writer: Writer
    let readers: ReaderPool
    let notifier: CommitNotifier
    let limits: StoreLimits
    let logger: Logger

    private init(nodeID: NodeID, path: String, durability: Durability, writer: Writer, readers: ReaderPool,
                 notifier: CommitNotifier, limits: StoreLimits, logger: Logger) {
        self.notifier = notifier
        self.nodeID = nodeID
        self.path = path
        self.durability = durability
        self.writer = writer
        self.readers = readers
        self.limits = limits
        self.logger = logger
    }

    /// Opens the store at `path`, creating it (and a node id) when it does not exist.
    ///
    /// - Parameters:
    ///   - durability: what a returned write survives.
    ///   - wallClock: the physical clock behind the HLC (inject one in tests).
    ///   - maxClockDriftMillis: how far ahead of the physical clock a remote HLC may move ours.
    ///   - readerCount: reader connections (each on its own thread).
    public static func open(path: String, durability: Durability = .processCrash, wallClock: any WallClock = SystemWallClock(),
                            maxClockDriftMillis: UInt64 = 60_000, readerCount: Int = 2, limits: StoreLimits = StoreLimits(),
                            logger: Logger = Logger(label: "synclayer.store")) async throws -> LocalStore {
        let notifier = CommitNotifier()
        let (writerConnection, nodeID, state) = try openWriterConnection(path: path, durability: durability, wallClock: wallClock,
                                                                          maxClockDriftMillis: maxClockDriftMillis)
        var readerConnections: [SQLiteConnection] = []
        for _ in 0..<max(1, readerCount) {
            let connection = try wrap { () throws(SQLiteError) in try SQLiteConnection(path: path, readOnly: true, create: false) }
            try wrap { () throws(SQLiteError) in try connection.execute("PRAGMA query_only = 1") }
            readerConnections.append(connection)
        }
        let name = "synclayer.store"
        let store = LocalStore(
            nodeID: nodeID, path: path, durability: durability,
            writer: Writer(connection: writerConnection, nodeID: nodeID, wallClock: wallClock, state: state, notifier: notifier,
                           inlineWhenIdle: durability == .processCrash, name: name),
            readers: ReaderPool(connections: readerConnections, name: name), notifier: notifier, limits: limits, logger: logger)
        logger.debug("opened store", metadata: ["synclayer.store.path": "\(path)", "synclayer.node.id": "\(nodeID)"])
        return store
    }

    /// Finishes queued writes and reads, then closes every connection.
    public func close() async {
        await writer.close()
        await readers.close()
        notifier.close()
    }

    private static func openWriterConnection(path: String, durability: Durability, wallClock: any WallClock,
                                             maxClockDriftMillis: UInt64) throws -> (SQLiteConnection, NodeID, WriterState) {
        try wrap { () throws(SQLiteError) -> (SQLiteConnection, NodeID, WriterState) in
            let connection = try SQLiteConnection(path: path)
            try connection.execute("PRAGMA journal_mode = WAL")
            try connection.execute("PRAGMA synchronous = \(durability.synchronousPragma)")
            try connection.execute("PRAGMA temp_store = MEMORY")
            // Checkpoint every 8,192 WAL pages (32 MiB) rather than 1,000: hot leaf pages are then copied
            // to the database file once per checkpoint instead of many times, and checkpoint fsyncs are rarer.
            try connection.execute("PRAGMA wal_autocheckpoint = 8192")
            try connection.execute("PRAGMA journal_size_limit = 67108864")
            // A 16 MiB page cache, so a large batch (saveAll) commits without spilling pages mid-transaction.
            try connection.execute("PRAGMA cache_size = -16384")
            try Migrations.node.apply(to: connection)
            let nodeID: NodeID
            if let text = try connection.scalarText("SELECT value FROM meta WHERE key = 'node_id'"), let id = NodeID(text) {
                nodeID = id
            } else {
                nodeID = NodeID.random()
                try connection.run("INSERT INTO meta(key, value) VALUES ('node_id', ?1)", .text(nodeID.rawValue))
            }
            var vector = VersionVector()
            let origins = try connection.statement("SELECT origin, contiguous FROM origins")
            while try origins.step() {
                if let origin = NodeID(origins.text(0)) { vector[origin] = UInt64(bitPattern: origins.int64(1)) }
            }
            let ownSeq = UInt64(bitPattern: try connection.scalarInt("SELECT max(seq) FROM changes WHERE origin = ?1", .text(nodeID.rawValue)) ?? 0)
            vector[nodeID] = max(vector[nodeID], ownSeq)
            let ownHLC = try connection.scalarInt("SELECT hlc FROM changes WHERE origin = ?1 ORDER BY seq DESC LIMIT 1", .text(nodeID.rawValue)) ?? 0
            var clock = HybridLogicalClock(last: HLCTimestamp(rawValue: UInt64(bitPattern: ownHLC)), maxDriftMillis: maxClockDriftMillis)
            let remoteHLC = try connection.scalarInt("SELECT max(max_hlc) FROM origins") ?? 0
            clock.observe(HLCTimestamp(rawValue: UInt64(bitPattern: remoteHLC)), physicalMillis: wallClock.nowMillis())
            connection.resetUsedStatements()
            return (connection, nodeID, WriterState(clock: clock, nextSeq: vector[nodeID] + 1, vector: vector))
        }
    }

    /// Registers `handler` to hear which collections each commit touched, and when the store closes.
    /// Keep it quick: it runs on the writer thread. Returns a token for ``removeObserver(_:)``.
    public func observeCommits(_ handler: @escaping @Sendable (StoreEvent) -> Void) -> UInt64 {
        notifier.observe(handler)
    }

    /// Stops an observer registered with ``observeCommits(_:)``.
    public func removeObserver(_ token: UInt64) {
        notifier.remove(token)
    }
}

/// Limits the store enforces on what it accepts.
public struct StoreLimits: Sendable, Hashable {
    /// Largest canonical JSON encoding of one document, in bytes.
    public var maxDocumentBytes: Int
    /// Deepest nesting of arrays and objects inside a document (the document itself is level 0).
    public var maxDocumentDepth: Int

    public init(maxDocumentBytes: Int = 1 << 20, maxDocumentDepth: Int = 24) {
        self.maxDocumentBytes = maxDocumentBytes
        self.maxDocumentDepth = maxDocumentDepth
    }
}

/// Runs SQLite work, turning its errors into ``StoreError``.
func wrap<T>(_ body: () throws(SQLiteError) -> T) throws(StoreError) -> T {
    do {
        return try body()
    } catch {
        throw StoreError(.database, error.description, underlying: error)
    }
}
