import Synchronization

/// One open WebSocket to a LAN peer: its outbound queue and what the peer last said about itself.
///
/// Frames are queued, never written inline, so relaying to many peers never waits on a slow one;
/// the session's writer task drains the queue in order.
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
    /// Changes from the server held back for this peer (see `Mesh.relayLater`).
    let heldBack = Mutex<[RemoteChange]>([])

    init(id: UInt64, direction: PeerStatus.Direction, address: String) {
        self.id = id
        self.direction = direction
        self.address = address
        (queue, continuation) = AsyncStream.makeStream(of: Frame.self)
    }

    /// The peer, once its `peerHello` arrived.
    var peer: Peer? { peerState.withLock { $0 } }

    func update(_ change: (inout Peer?) -> Void) {
        peerState.withLock { change(&$0) }
    }

    /// Queues a frame for the peer.
    func send(_ frame: Frame) {
        continuation.yield(frame)
    }

    /// Ends the outbound queue: the session closes the link once the queue drained.
    func finish() {
        continuation.finish()
    }
}
