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
    private let codec = FrameCodec()
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

    /// Hands a commit to every connection (called in commit order).
    func publish(_ commit: StoreCommit) {
        let targets = connections.withLock { Array($0) }
        guard !targets.isEmpty, !commit.changes.isEmpty else { return }
        // A node that says hello after this check is live only above the head, which includes this
        // commit: it gets these changes in its catch-up, signed there.
        let nodes = targets.contains { $0.value.isNode }
        let changes = commit.changes.map { committed in
            let frame = ServerFrame.text(codec.encode(.change(ChangeMessage(committed.change, serverSeq: committed.serverSeq))))
            var nodeFrame = frame
            // signingOwn signs only the server's own changes not signed yet; others stay as they are.
            if nodes, case let signed = signer.signingOwn(committed.change), signed.signature != committed.change.signature {
                nodeFrame = ServerFrame.text(codec.encode(.change(ChangeMessage(signed, serverSeq: committed.serverSeq))))
            }
            return HubChange(change: committed.change, serverSeq: committed.serverSeq ?? 0, submitter: committed.submitter,
                             frame: frame, nodeFrame: nodeFrame)
        }
        for (id, delivery) in targets where !delivery.publish(changes, connection: id) {
            metrics.slowConnectionsDropped.add(1, ordering: .relaxed)
            remove(id)
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

/// The server's counters, readable at `/metrics`.
final class ServerMetrics: Sendable {
    let connectionsOpened = Atomic<Int>(0)
    let framesReceived = Atomic<Int>(0)
    let framesRejected = Atomic<Int>(0)
    let changesCommitted = Atomic<Int>(0)
    let duplicatesDropped = Atomic<Int>(0)
    let changesRejected = Atomic<Int>(0)
    /// Changes refused for their signature (also counted in `changesRejected`).
    let badSignatures = Atomic<Int>(0)
    let authFailures = Atomic<Int>(0)
    let rateLimited = Atomic<Int>(0)
    let slowConnectionsDropped = Atomic<Int>(0)

    func snapshot(connections: Int, head: UInt64) -> JSONObject {
        [
            "connections": .int(Int64(connections)),
            "connectionsOpened": .int(Int64(connectionsOpened.load(ordering: .relaxed))),
            "framesReceived": .int(Int64(framesReceived.load(ordering: .relaxed))),
            "framesRejected": .int(Int64(framesRejected.load(ordering: .relaxed))),
            "changesCommitted": .int(Int64(changesCommitted.load(ordering: .relaxed))),
            "duplicatesDropped": .int(Int64(duplicatesDropped.load(ordering: .relaxed))),
            "changesRejected": .int(Int64(changesRejected.load(ordering: .relaxed))),
            "badSignatures": .int(Int64(badSignatures.load(ordering: .relaxed))),
            "authFailures": .int(Int64(authFailures.load(ordering: .relaxed))),
            "rateLimited": .int(Int64(rateLimited.load(ordering: .relaxed))),
            "slowConnectionsDropped": .int(Int64(slowConnectionsDropped.load(ordering: .relaxed))),
            "serverSeq": .int(Int64(clamping: head)),
        ]
    }
}
