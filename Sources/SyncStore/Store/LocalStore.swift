import Logging
import SyncCore

/// A node's durable local store: one SQLite file holding documents, the change log (whose
/// unacknowledged part is the outbox), the version vector and cursors.
///
/// Every write runs on one writer thread and returns only after its transaction committed; a
/// document and the change that wrote it are always committed together. Reads run on their own
/// threads. See `Docs/Architecture.md`.
package final class LocalStore: Sendable {
    /// This node's id, created with the database and stable for its life.
    package let nodeID: NodeID
    /// The node's signing key, kept in the database: its own changes are signed with it as they leave.
    package let signer: ChangeSigner
    /// The database file.
    package let path: String
    /// What a returned write survives.
    package let durability: Durability

    let writer: Writer
    let readers: ReaderPool
    let notifier: CommitNotifier
    let limits: StoreLimits
    let logger: Logger

    private init(nodeID: NodeID, signer: ChangeSigner, path: String, durability: Durability, writer: Writer, readers: ReaderPool,
                 notifier: CommitNotifier, limits: StoreLimits, logger: Logger) {
        self.signer = signer
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
    package static func open(path: String, durability: Durability = .processCrash, wallClock: any WallClock = SystemWallClock(),
                            maxClockDriftMillis: UInt64 = 60_000, readerCount: Int = 2, limits: StoreLimits = StoreLimits(),
                            logger: Logger = Logger(label: "synclayer.store")) async throws -> LocalStore {
        let name = "synclayer.store"
        let store = try await onDatabaseThread(name: "\(name).open") {
            let notifier = CommitNotifier()
            let opened = try StoreOpener.open(path: path, durability: durability, migrations: .node, wallClock: wallClock,
                                              maxClockDriftMillis: maxClockDriftMillis, readerCount: readerCount)
            return LocalStore(
                nodeID: opened.nodeID, signer: opened.state.signer, path: path, durability: durability,
                writer: Writer(connection: opened.writer, nodeID: opened.nodeID, wallClock: wallClock, state: opened.state, notifier: notifier,
                               inlineWhenIdle: durability == .processCrash, name: name),
                readers: ReaderPool(connections: opened.readers, name: name), notifier: notifier, limits: limits, logger: logger)
        }
        logger.debug("opened store", metadata: ["synclayer.store.path": "\(path)", "synclayer.node.id": "\(store.nodeID)"])
        return store
    }

    /// Finishes queued writes and reads, then closes every connection.
    package func close() async {
        await writer.close()
        await readers.close()
        notifier.close()
    }

    /// Registers `handler` to hear which collections each commit touched, and when the store closes.
    /// Keep it quick: it runs on the writer thread. Returns a token for ``removeObserver(_:)``.
    package func observeCommits(_ handler: @escaping @Sendable (StoreEvent) -> Void) -> UInt64 {
        notifier.observe(handler)
    }

    /// Stops an observer registered with ``observeCommits(_:)``.
    package func removeObserver(_ token: UInt64) {
        notifier.remove(token)
    }

    /// Sets what hears how long each write transaction took, from its start to its commit (the
    /// store-commit histogram of `/metrics`); `nil` stops it.
    package func timeCommits(_ handler: (@Sendable (Duration) -> Void)?) {
        notifier.timeCommits(handler)
    }
}

/// Limits the store enforces on what it accepts.
package struct StoreLimits: Sendable, Hashable {
    /// Largest canonical JSON encoding of one document, in bytes.
    package var maxDocumentBytes: Int
    /// Deepest nesting of arrays and objects inside a document (the document itself is level 0).
    package var maxDocumentDepth: Int

    package init(maxDocumentBytes: Int = 1 << 20, maxDocumentDepth: Int = 24) {
        self.maxDocumentBytes = maxDocumentBytes
        self.maxDocumentDepth = maxDocumentDepth
    }
}

/// Runs SQLite work, turning its errors into ``StoreError``.
package func wrap<T>(_ body: () throws(SQLiteError) -> T) throws(StoreError) -> T {
    do {
        return try body()
    } catch {
        throw StoreError(.database, error.description, underlying: error)
    }
}
