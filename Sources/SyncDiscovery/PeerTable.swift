/// Turns per-instance resolutions and removals into per-node events (no I/O).
///
/// Several instances may carry the same node id (one per interface and protocol, or a stale name
/// next to a renamed one). A node is reported by one of its instances, and removed only when its
/// last instance goes. Repeated resolutions with the same data report nothing.
struct PeerTable: Sendable {
    private var resolutions: [InstanceKey: DiscoveredPeer] = [:]
    private var reported: [String: (key: InstanceKey, peer: DiscoveredPeer)] = [:]

    /// The node ids currently reported.
    var nodeIDs: Set<String> { Set(reported.keys) }

    /// Records that `key` resolved to `peer`.
    mutating func resolve(_ peer: DiscoveredPeer, for key: InstanceKey) -> [DiscoveryEvent] {
        var events: [DiscoveryEvent] = []
        if let previous = resolutions[key], previous.nodeID != peer.nodeID {
            events += remove(key)
        }
        resolutions[key] = peer
        if let current = reported[peer.nodeID] {
            guard current.key == key, current.peer != peer else { return events }
        }
        reported[peer.nodeID] = (key, peer)
        events.append(.peerFound(peer))
        return events
    }

    /// Records that the instance `key` went away.
    mutating func remove(_ key: InstanceKey) -> [DiscoveryEvent] {
        guard let gone = resolutions.removeValue(forKey: key) else { return [] }
        guard let current = reported[gone.nodeID], current.key == key else { return [] }
        let others = resolutions.filter { $0.value.nodeID == gone.nodeID }.sorted { $0.key < $1.key }
        guard let next = others.first else {
            reported[gone.nodeID] = nil
            return [.peerRemoved(nodeID: gone.nodeID)]
        }
        reported[gone.nodeID] = (next.key, next.value)
        return next.value == current.peer ? [] : [.peerFound(next.value)]
    }

    /// Forgets everything without reporting (the daemon went away; nothing is known).
    mutating func removeAll() {
        resolutions.removeAll()
        reported.removeAll()
    }
}
