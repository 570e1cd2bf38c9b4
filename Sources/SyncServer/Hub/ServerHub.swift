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
    private let nextID = Atomic<UInt64>(1)
    /// Signs the server's own changes for nodes.
    private let signer: ChangeSigner
    let metrics: ServerMetrics

    init(signer: ChangeSigner, metrics: ServerMetrics) {
        self.signer = signer
        self.metrics = metrics
    }

    /// Registers a new connection's delivery; returns the connection's id.
    func register(_ delivery: Delivery) -> UInt64 {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        connections.withLock { $0[id] = delivery }
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
        guard !commit.changes.isEmpty else { return }
        metrics.commits.add(1, ordering: .relaxed)
        let targets = connections.withLock { Array($0) }
        guard !targets.isEmpty else { return }
        // A node that says hello after this check is live only above the head, which includes this
        // commit: it gets these changes in its catch-up, signed there.
        let nodes = targets.contains { $0.value.isNode }
        let changes = commit.changes.map { committed in
            let frame = ServerFrame.text(FrameCodec.encode(change: committed.change, serverSeq: committed.serverSeq))
            var nodeFrame = frame
            // signingOwn signs only the server's own changes not signed yet; others stay as they are.
            if nodes, case let signed = signer.signingOwn(committed.change), signed.signature != committed.change.signature {
                nodeFrame = ServerFrame.text(FrameCodec.encode(change: signed, serverSeq: committed.serverSeq))
            }
            metrics.messageBytesOut.record(frame.readableBytes)
            return HubChange(change: committed.change, serverSeq: committed.serverSeq ?? 0, submitter: committed.submitter,
                             frame: frame, nodeFrame: nodeFrame)
        }
        var fanout = 0
        for (id, delivery) in targets {
            let outcome = delivery.publishing(changes, connection: id)
            if outcome.sentChanges { fanout += 1 }
            if !outcome.admitted {
                metrics.slowConnectionsDropped.add(1, ordering: .relaxed)
                remove(id)
            }
        }
        metrics.fanout.record(fanout)
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
