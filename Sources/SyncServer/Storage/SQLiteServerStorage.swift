import Logging
import SyncCore
import SyncStore
import Synchronization

/// The server's durable store: every accepted change once, in the server's own order, and the
/// documents they merge into (the same merge as every node, so digests compare).
///
/// The server is the authority: it gives each new change the next server sequence, drops
/// duplicates by change id, validates every change again, and serves pulls by its own sequence.
package final class SQLiteServerStorage: ServerStorage {
    /// The server's node id: the origin of the changes it stamps for clients of the original protocol.
    package var serverID: NodeID { identity.serverID }
    /// The server's id and signing key.
    package let identity: ServerIdentity
    /// The database file.
    package let path: String
    /// Limits on accepted changes.
    package let limits: ServerStorageLimits

    let writer: Writer
    let readers: ReaderPool
    let notifier: CommitNotifier
    let wallClock: any WallClock
    private let headSeq: Atomic<UInt64>

    private init(identity: ServerIdentity, path: String, limits: ServerStorageLimits, writer: Writer, readers: ReaderPool,
                 notifier: CommitNotifier, wallClock: any WallClock, head: UInt64) {
        self.identity = identity
        self.path = path
        self.limits = limits
        self.writer = writer
        self.readers = readers
        self.notifier = notifier
        self.wallClock = wallClock
        self.headSeq = Atomic(head)
    }

    /// Opens (or creates) the server's database.
    package static func open(path: String, durability: Durability = .processCrash, wallClock: any WallClock = SystemWallClock(),
                            limits: ServerStorageLimits = ServerStorageLimits(), logger: Logger = Logger(label: "synclayer.server.store"))
        async throws -> SQLiteServerStorage {
        let notifier = CommitNotifier()
        let store = try await onDatabaseThread(name: "synclayer.server.open") {
            let opened = try StoreOpener.open(path: path, durability: durability, migrations: .server, wallClock: wallClock,
                                              maxClockDriftMillis: limits.maxClockDriftMillis, readerCount: 2)
            let head = try wrap { () throws(SQLiteError) in
                UInt64(bitPattern: try opened.writer.scalarInt("SELECT coalesce(max(server_seq), 0) FROM changes") ?? 0)
            }
            opened.writer.resetUsedStatements()
            return SQLiteServerStorage(
                identity: ServerIdentity(serverID: opened.nodeID, signer: opened.state.signer), path: path, limits: limits,
                writer: Writer(connection: opened.writer, nodeID: opened.nodeID, wallClock: wallClock, state: opened.state,
                               notifier: notifier, inlineWhenIdle: durability == .processCrash, name: "synclayer.server"),
                readers: ReaderPool(connections: opened.readers, name: "synclayer.server"), notifier: notifier, wallClock: wallClock, head: head)
        }
        // Registered first, so the head is current before any other observer (the hub) hears of a commit.
        _ = notifier.observe { [store] event in
            if case .committed(let commit) = event, let last = commit.through {
                store.headSeq.store(last, ordering: .releasing)
            }
        }
        logger.debug("opened server store", metadata: ["synclayer.store.path": "\(path)", "synclayer.server.id": "\(store.serverID)"])
        return store
    }

    /// Finishes queued work and closes the database.
    package func close() async {
        await writer.close()
        await readers.close()
        notifier.close()
    }

    /// The highest server sequence committed.
    package var head: UInt64 { headSeq.load(ordering: .acquiring) }

    /// Registers `handler` to hear every commit, in commit (server sequence) order, on the writer's
    /// thread: keep it quick. Returns a token for ``removeObserver(_:)``.
    package func observeCommits(_ handler: @escaping @Sendable (StoreEvent) -> Void) -> UInt64 {
        notifier.observe(handler)
    }

    /// Stops an observer.
    package func removeObserver(_ token: UInt64) {
        notifier.remove(token)
    }

    /// Sets what hears how long each write transaction took, from its start to its commit (the
    /// store-commit histogram of `/metrics`); `nil` stops it.
    package func timeCommits(_ handler: (@Sendable (Duration) -> Void)?) {
        notifier.timeCommits(handler)
    }

    /// Validates and commits changes (each once: a duplicate reports its first sequence).
    ///
    /// - Parameter submitter: tags the committed changes for commit observers (0: untagged).
    package func commit(_ changes: [Change], submitter: UInt64) async throws -> [ChangeID: CommitOutcome] {
        let screened = limits.screen(changes, now: wallClock.nowMillis())
        let accepted = screened.accepted, fields = screened.fields
        var outcomes = screened.refused
        guard !accepted.isEmpty else { return outcomes }
        let committed = try await writer.write { context in
            context.submitter = submitter
            var results: [(ChangeID, CommitOutcome)] = []
            for (change, encoded) in zip(accepted, fields) {
                results.append((change.id, try context.commitOnServer(change, canonicalFields: encoded)))
            }
            return results
        }
        for (id, outcome) in committed { outcomes[id] = outcome }
        return outcomes
    }

    /// Stamps and commits writes from clients of the original protocol.
    package func commitLegacy(_ writes: [LegacyWrite], submitter: UInt64) async throws -> [SequencedChange] {
        let fields = try writes.map { try limits.check($0) }
        return try await writer.write { context in
            context.submitter = submitter
            return try zip(writes, fields).map { try context.commitLegacy($0, canonicalFields: $1) }
        }
    }
}
