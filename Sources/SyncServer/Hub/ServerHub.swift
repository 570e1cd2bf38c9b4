import SyncCore
import SyncStore
import Synchronization

/// Fans each commit out to every connection, in commit order, with each change encoded once.
///
/// `publish` runs on the store's writer thread right after the commit, so the order in which
/// connections receive commits is the server sequence order. A connection whose queue is full is too
/// slow to keep up: its queue is finished, it is closed, and it catches up from its cursor when it
/// reconnects. A queue is full at `queueLimit` items or `queueLimit` changes (beyond the one commit an
/// empty queue always takes), whichever comes first:
/// one commit item may hold a whole batch, so counting items alone would let a client that never
/// reads pin every change committed meanwhile in memory.
final class ServerHub: Sendable {
    private let connections = Mutex<[UInt64: OutboundQueue]>([:])
    private let nextID = Atomic<UInt64>(1)
    private let queueLimit: Int
    private let codec = FrameCodec()
    let metrics: ServerMetrics

    init(queueLimit: Int, metrics: ServerMetrics) {
        self.queueLimit = queueLimit
        self.metrics = metrics
    }

    /// A new connection's id and outbound queue.
    func register() -> (id: UInt64, items: AsyncStream<OutboundItem>, queue: OutboundQueue) {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let (stream, continuation) = AsyncStream.makeStream(of: OutboundItem.self, bufferingPolicy: .bufferingOldest(queueLimit))
        let queue = OutboundQueue(continuation: continuation, limit: queueLimit)
        connections.withLock { $0[id] = queue }
        return (id, stream, queue)
    }

    /// Forgets a connection.
    func remove(_ id: UInt64) {
        _ = connections.withLock { $0.removeValue(forKey: id) }
    }

    /// How many connections are open.
    var count: Int { connections.withLock { $0.count } }

    /// Hands a commit to every connection (called on the writer thread, in commit order).
    func publish(_ commit: StoreCommit) {
        let targets = connections.withLock { Array($0) }
        guard !targets.isEmpty, !commit.changes.isEmpty else { return }
        let changes = commit.changes.map { committed in
            HubChange(change: committed.change, serverSeq: committed.serverSeq ?? 0, submitter: committed.submitter,
                      frame: codec.encodeString(.change(ChangeMessage(committed.change, serverSeq: committed.serverSeq))))
        }
        for (id, queue) in targets {
            var dropped = !queue.queued.admit(changes.count)
            if !dropped, case .dropped = queue.continuation.yield(.commit(changes)) { dropped = true }
            if dropped {
                metrics.slowConnectionsDropped.add(1, ordering: .relaxed)
                queue.continuation.finish()
                remove(id)
            }
        }
    }

    /// Ends every connection's queue (shutdown).
    func finishAll() {
        let targets = connections.withLock { connections in
            defer { connections.removeAll() }
            return Array(connections.values)
        }
        for queue in targets { queue.continuation.finish() }
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
