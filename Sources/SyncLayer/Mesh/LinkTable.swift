import SyncCore

/// The mesh's open links: every connection (``links``) and, once a connection's `peerHello`
/// arrived, the one kept per peer (``byPeer``). The rules of which link is kept live here:
///
/// - at most `maxLinks` registered links, and `maxLinks + 2` connections in handshake at once;
/// - two links to the same peer (both dialled at once): both sides keep the one dialled by the
///   smaller node id, so they agree without talking about it.
///
/// A value type inside the mesh's lock; it never does I/O. Its decisions are tested in `LinkTableTests`.
struct LinkTable {
    private(set) var links: [UInt64: MeshLink] = [:]
    private(set) var byPeer: [NodeID: MeshLink] = [:]
    private var nextLinkID: UInt64 = 1

    /// What registering a link decided.
    enum Registration: Equatable {
        /// The link is the peer's.
        case registered
        /// The link is the peer's; the one it replaces (dialled by the larger node id) must be ended.
        case replaced(MeshLink)
        /// The link is refused (the reason says why).
        case refused(String)

        static func == (lhs: Registration, rhs: Registration) -> Bool {
            switch (lhs, rhs) {
            case (.registered, .registered): return true
            case (.replaced(let a), .replaced(let b)): return a === b
            case (.refused(let a), .refused(let b)): return a == b
            default: return false
            }
        }
    }

    /// A new connection, before its handshake; `nil` when `limit` connections are open already.
    mutating func open(direction: PeerStatus.Direction, address: String, limit: Int, queueLimit: Int, deferGrace: Duration) -> MeshLink? {
        guard links.count < limit else { return nil }
        defer { nextLinkID += 1 }
        let link = MeshLink(id: nextLinkID, direction: direction, address: address, queueLimit: queueLimit, deferGrace: deferGrace)
        links[link.id] = link
        return link
    }

    /// Registers `link` as `peer`'s, for the node `ownID`, with at most `maxLinks` peers.
    mutating func register(_ link: MeshLink, peer: NodeID, ownID: NodeID, maxLinks: Int) -> Registration {
        if let existing = byPeer[peer], existing.id != link.id {
            let smaller = min(ownID, peer)
            func dialer(_ candidate: MeshLink) -> NodeID { candidate.direction == .outbound ? ownID : peer }
            if dialer(existing) == smaller || dialer(link) != smaller {
                return .refused("already linked to \(peer)")
            }
            byPeer[peer] = link
            return .replaced(existing)
        }
        guard byPeer.count < maxLinks else {
            return .refused("this node has its maximum of \(maxLinks) links")
        }
        byPeer[peer] = link
        return .registered
    }

    /// Forgets a connection that ended; returns its peer when it was the peer's registered link.
    mutating func close(_ link: MeshLink) -> NodeID? {
        links[link.id] = nil
        guard let peer = link.peer?.nodeID, byPeer[peer]?.id == link.id else { return nil }
        byPeer[peer] = nil
        return peer
    }
}
