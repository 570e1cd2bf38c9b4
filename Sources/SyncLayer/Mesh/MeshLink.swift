import Synchronization
import SyncCore
import SyncStore

/// One open WebSocket to a LAN peer: its outbound queue and what the peer last said about itself.
///
/// Frames are queued, never written inline, so relaying to many peers never waits on a slow one;
/// the session's writer task drains the queue in order. The queue is bounded in changes: past
/// `queueLimit` waiting for a peer that does not read, the link is ended (``overflowed``).
final class MeshLink: Sendable {
    struct Peer: Sendable {
        var nodeID: NodeID
        var uplink: Bool
        var vector: VersionVector
        var since: UInt64
    }

    let id: UInt64
    let direction: PeerStatus.Direction
    let address: String
    let queue: AsyncStream<Frame>
    private let continuation: AsyncStream<Frame>.Continuation
    private let peerState = Mutex<Peer?>(nil)
    /// Changes the server holds, deferred for this peer (``RelayPolicy``); the session releases
    /// them when due (``deferredChanged`` wakes it when the first of a run is held).
    let deferred: Mutex<DeferredRelays>
    let deferredChanged = Wakeup()
    /// Changes in frames queued and not yet written.
    private let queued: OutboundQueueBound
    /// Fulfilled when the peer let more than `queueLimit` changes pile up (the link then ends).
    let overflow = Promise<Void>()
    /// Changes written to the peer, and changes it sent, over this link (``PeerStatus``).
    let changesSent = Atomic<Int>(0)
    let changesReceived = Atomic<Int>(0)

    init(id: UInt64, direction: PeerStatus.Direction, address: String, queueLimit: Int, deferGrace: Duration) {
        deferred = Mutex(DeferredRelays(grace: deferGrace))
        self.id = id
        self.direction = direction
        self.address = address
        queued = OutboundQueueBound(limit: queueLimit)
        (queue, continuation) = AsyncStream.makeStream(of: Frame.self)
    }

    /// Whether the link was ended because the peer let more than `queueLimit` changes pile up.
    var overflowed: Bool { overflow.current != nil }

    /// The peer, once its `peerHello` arrived.
    var peer: Peer? { peerState.withLock { $0 } }

    func update(_ change: (inout Peer?) -> Void) {
        peerState.withLock { change(&$0) }
    }

    /// Queues a frame for the peer; ends the link instead when that would leave more than
    /// `queueLimit` changes waiting (a frame on an empty queue is always taken, however large).
    func send(_ frame: Frame) {
        let changes = Self.changeCount(frame)
        guard changes == 0 || queued.admit(changes) else {
            overflow.fulfill(())
            continuation.finish()
            return
        }
        continuation.yield(frame)
    }

    /// The writer hands `frame` to the connection. Counted before the write, so that by the time
    /// the peer holds a change, the count says it was sent (a peer's status read after it applied
    /// the change never lags behind it).
    func sending(_ frame: Frame) {
        let changes = Self.changeCount(frame)
        if changes > 0 { changesSent.add(changes, ordering: .relaxed) }
    }

    /// The connection took `frame`: its changes stop counting against the queue's bound.
    func wrote(_ frame: Frame) {
        let changes = Self.changeCount(frame)
        if changes > 0 { queued.release(changes) }
    }

    private static func changeCount(_ frame: Frame) -> Int {
        if case .relay(let batch) = frame { return batch.changes.count }
        return 0
    }

    /// Defers changes for this peer until their grace has passed.
    func deferRelay(_ changes: [ChangeInTransit]) {
        guard !changes.isEmpty else { return }
        let first = deferred.withLock { held in
            defer { held.add(changes, now: monotonicNanos()) }
            return held.due == nil
        }
        if first { deferredChanged.signal() }
    }

    /// Ends the outbound queue: the session closes the link once the queue drained.
    func finish() {
        continuation.finish()
    }
}
