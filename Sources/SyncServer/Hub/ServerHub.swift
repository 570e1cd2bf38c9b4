import SyncCore
import SyncStore
import Synchronization

/// Fans each commit out to every connection, in commit order, with each change encoded once.
///
/// `publish` runs right after the commit (on SQLite the writer's thread, on PostgreSQL the writer
/// or the listener), so connections receive commits in server sequence order. Each change becomes
/// one complete server frame shared by every connection; each connection's ``Delivery`` decides,
/// under its own lock, what of the commit it is sent, and its event loop writes it. A connection
/// past its bound is too slow to keep up: it is closed, and catches up from its cursor when it
/// reconnects.
final class ServerHub: Sendable {
    private let connections = Mutex<[UInt64: Delivery]>([:])
    /// Set on graceful shutdown: a connection registered from then on is told to go at once.
    private let shuttingDown = Atomic<Bool>(false)
    private let nextID = Atomic<UInt64>(1)
    /// Signs the server's own changes for nodes.
    private let signer: ChangeSigner
    let metrics: ServerMetrics

    init(signer: ChangeSigner, metrics: ServerMetrics) {
        self.signer = signer
        self.metrics = metrics
    }

    /// Registers a new connection's delivery; returns the connection's id. A connection stays
    /// registered until it has ended (``ServerConnection/ended()``), so this is also the list the
    /// server says goodbye to and waits for on shutdown.
    func register(_ delivery: Delivery) -> UInt64 {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        connections.withLock { $0[id] = delivery }
        if shuttingDown.load(ordering: .acquiring) { Self.sayGoodbye(to: delivery) }
        return id
    }

    /// Forgets a connection.
    func remove(_ id: UInt64) {
        _ = connections.withLock { $0.removeValue(forKey: id) }
    }

    /// How many connections are open.
    var count: Int { connections.withLock { $0.count } }

    /// Every open connection, for the server console, oldest first.
    func views() -> [ConnectionView] {
        let all = connections.withLock { Array($0) }
        return all.map { id, delivery in
            let view = delivery.view
            return ConnectionView(id: id, node: delivery.info.node, address: delivery.info.address, openedAt: delivery.info.openedAt,
                                  collections: view.subscriptions.sorted(), through: view.through, catchingUp: view.catchingUp)
        }.sorted { $0.id < $1.id }
    }

    /// The collections any connection subscribes to now (what a store reads other instances'
    /// commits in full for: ``ServerStorage/setInterest(_:)``).
    func subscribedCollections() -> Set<String> {
        Set(subscriberCounts().keys)
    }

    /// Per collection, how many connections subscribe to it now.
    func subscriberCounts() -> [String: Int] {
        let all = connections.withLock { Array($0.values) }
        var counts: [String: Int] = [:]
        for delivery in all {
            for collection in delivery.view.subscriptions { counts[collection, default: 0] += 1 }
        }
        return counts
    }

    /// Hands a commit to every connection (called in commit order).
    func publish(_ commit: StoreCommit) {
        // A commit with no change matters only if it skipped changes some reader may want.
        guard !commit.changes.isEmpty || commit.complete != nil else { return }
        if !commit.changes.isEmpty {
            metrics.commits.add(1, ordering: .relaxed)
            HopTrace.mark(.published)
        }
        let targets = connections.withLock { Array($0) }
        guard !targets.isEmpty else { return }
        // Each change is encoded the first time a connection is sent it, once for all of them; the
        // server's own changes (original-protocol writes, stored unsigned) are signed for nodes.
        let signer = self.signer, metrics = self.metrics
        let changes = commit.changes.map { committed in
            let serverSeq = committed.serverSeq
            return HubChange(change: committed.change, serverSeq: serverSeq ?? 0, submitter: committed.submitter,
                             isStampedWrite: committed.change.id.origin == signer.nodeID) { forNode in
                var change = committed.change
                if forNode {
                    // signingOwn signs only the server's own changes not signed yet; others stay as they are.
                    change = signer.signingOwn(change)
                    guard change.signature != committed.change.signature else { return nil }
                }
                let frame = ServerFrame.text(FrameCodec.encode(change: change, serverSeq: serverSeq,
                                                                     canonicalFields: committed.canonicalFields))
                if !forNode { metrics.messageBytesOut.record(frame.readableBytes) }
                return frame
            }
        }
        let skipped = commit.complete.map { (through: commit.through ?? 0, complete: $0) }
        var fanout = 0
        let drains = DrainBatch()
        for (id, delivery) in targets {
            let outcome = delivery.publishing(changes, skipped: skipped, connection: id, drains: drains)
            if outcome.sentChanges { fanout += 1 }
            if !outcome.admitted {
                metrics.slowConnectionsDropped.add(1, ordering: .relaxed)
                remove(id)
            }
        }
        drains.submit()
        metrics.fanout.record(fanout)
    }

    /// Graceful shutdown: every connection, and any registered from now on, is told why, sent a
    /// close frame and closed.
    func shutDown() {
        shuttingDown.store(true, ordering: .releasing)
        for delivery in connections.withLock({ Array($0.values) }) { Self.sayGoodbye(to: delivery) }
    }

    private static func sayGoodbye(to delivery: Delivery) {
        delivery.close(with: FrameError(.serverError, "the server is shutting down; reconnect later"), code: 1000)
    }

    /// Says goodbye to every connection (``shutDown()``) and returns once all have ended; those still
    /// open after `grace` (a client that stopped reading never takes the goodbye) are closed at once,
    /// and after another `grace` the wait ends regardless.
    func closeAll(grace: Duration) async {
        shutDown()
        let deadline = ContinuousClock.now + grace
        var aborted = false
        while count > 0 {
            if !aborted, ContinuousClock.now >= deadline {
                aborted = true
                for delivery in connections.withLock({ Array($0.values) }) { delivery.abort() }
            }
            if aborted, ContinuousClock.now >= deadline + grace { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Closes every connection still registered (the server stopped).
    func finishAll() {
        let targets = connections.withLock { connections in
            defer { connections.removeAll() }
            return Array(connections.values)
        }
        for delivery in targets { delivery.abort() }
    }
}
