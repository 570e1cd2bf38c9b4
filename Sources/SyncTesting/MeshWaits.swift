import SyncLayer
import SyncCore

/// Waits (bounded) until `node` has exactly the peers in `expected` (and, with `uplink`, it and
/// they all have or lack the server), checking again at each mesh event: a peer linked or lost,
/// or an uplink change of the node or a peer.
package func waitForPeers(_ node: SyncNode, _ expected: Set<NodeID>, uplink: Bool? = nil, timeout: Duration = .seconds(20)) async -> Bool {
    let events = node.events()
    let holds: @Sendable () -> Bool = {
        guard let status = node.meshStatus, Set(status.peers.map(\.nodeID)) == expected else { return false }
        guard let uplink else { return true }
        return status.uplink == uplink && status.peers.allSatisfy { $0.uplink == uplink }
    }
    if holds() { return true }
    return await waitForElement(in: events, timeout: timeout) { event in
        [.peerConnected, .peerLost, .connectivityChanged].contains(event.kind) && holds()
    }
}
