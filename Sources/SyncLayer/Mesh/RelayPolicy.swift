import SyncCore
import SyncStore

/// The relay rule of the LAN mesh, as a pure type: which peers a change goes to, what each of them
/// gets at once, and what waits. ``Mesh`` carries its decisions out; `RelayPolicyTests` checks them
/// table by table.
///
/// - A change new to this node goes to every linked peer except the one it came from and those the
///   sender already sent it to (the batch's `sentTo`), and only while it has crossed at most
///   `hopLimit` links.
/// - Nothing goes over a link whose two ends both reach the server: the server delivers to both.
/// - A peer gets only what its last `peerHello` says it lacks (by its version vector).
/// - When this node is the peer's way to the server (this node has an uplink, the peer does not),
///   what the server already holds is deferred for `gatewayGrace` (``DeferredRelays``): after a
///   heal every node reconnects at once, and such changes would cross the mesh to nodes about to
///   receive them from the server. Changes the server does not hold yet go at once.
struct RelayPolicy: Sendable {
    /// What the policy knows of a linked peer.
    struct Peer: Sendable, Hashable {
        var nodeID: NodeID
        var uplink: Bool
        var vector: VersionVector
    }

    /// What one peer gets of a batch.
    struct Plan: Sendable, Equatable {
        /// Sent now.
        var now: [ChangeInTransit] = []
        /// Deferred for ``RelayPolicy/gatewayGrace``, then sent if the peer still lacks an uplink.
        var deferred: [ChangeInTransit] = []
    }

    /// How many links a change may cross.
    var hopLimit: Int

    /// Whether changes go over a link at all: not when both ends reach the server.
    static func relays(ownUplink: Bool, peerUplink: Bool) -> Bool {
        !(ownUplink && peerUplink)
    }

    /// The peers a batch that has crossed `hops` links goes to.
    func targets(_ peers: [Peer], ownUplink: Bool, hops: Int, except: Set<NodeID>) -> [Peer] {
        guard hops <= hopLimit else { return [] }
        return peers.filter { !except.contains($0.nodeID) && Self.relays(ownUplink: ownUplink, peerUplink: $0.uplink) }
    }

    /// What `peer` gets of `changes`: only what it lacks, and what the server holds deferred when
    /// this node is its gateway.
    func plan(_ changes: [ChangeInTransit], for peer: Peer, ownUplink: Bool) -> Plan {
        guard Self.relays(ownUplink: ownUplink, peerUplink: peer.uplink) else { return Plan() }
        let lacking = Self.lacking(changes, by: peer)
        guard ownUplink && !peer.uplink else { return Plan(now: lacking) }
        return Plan(now: lacking.filter { !$0.acknowledged }, deferred: lacking.filter(\.acknowledged))
    }

    /// What is due of the deferred changes, given what the peer says now: nothing once it reaches
    /// the server (or this node does not), else what it still lacks.
    func release(_ deferred: [ChangeInTransit], to peer: Peer, ownUplink: Bool) -> [ChangeInTransit] {
        guard Self.relays(ownUplink: ownUplink, peerUplink: peer.uplink) else { return [] }
        return Self.lacking(deferred, by: peer)
    }

    /// The changes `peer`'s vector does not cover.
    static func lacking(_ changes: [ChangeInTransit], by peer: Peer) -> [ChangeInTransit] {
        changes.filter { $0.change.id.seq > peer.vector[$0.change.id.origin] }
    }
}

/// Changes deferred for one peer (see ``RelayPolicy``), with when they fall due. Time is a
/// monotonic reading in nanoseconds, passed in, so the rule is tested without waiting.
struct DeferredRelays: Sendable {
    /// How long a change is deferred.
    let grace: Duration
    private(set) var pending: [ChangeInTransit] = []
    /// When the deferred changes fall due; `nil` when none are deferred.
    private(set) var due: UInt64?

    init(grace: Duration) {
        self.grace = grace
    }

    /// Defers `changes`. The first of a run sets the deadline; later ones join it, so a steady
    /// stream is released once per grace, not never.
    mutating func add(_ changes: [ChangeInTransit], now: UInt64) {
        guard !changes.isEmpty else { return }
        if due == nil { due = now + UInt64(max(0, grace.nanosecondsValue)) }
        pending.append(contentsOf: changes)
    }

    /// The deferred changes, when they are due at `now` (and forgets them); `nil` before.
    mutating func takeDue(now: UInt64) -> [ChangeInTransit]? {
        guard let due, now >= due else { return nil }
        defer {
            pending = []
            self.due = nil
        }
        return pending
    }
}
