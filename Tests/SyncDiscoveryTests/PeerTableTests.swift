import Testing

@testable import SyncDiscovery

@Suite("PeerTable: per-instance results to per-node events")
struct PeerTableTests {
    let keyA = InstanceKey(interfaceIndex: 1, ipProtocol: 0, name: "node")
    let keyB = InstanceKey(interfaceIndex: 1, ipProtocol: 0, name: "node #2")

    func peer(_ node: String, name: String = "node", uplink: String = "0") -> DiscoveredPeer {
        DiscoveredPeer(
            nodeID: node, instanceName: name, address: "127.0.0.1", port: 9000,
            txt: ["node": node, "uplink": uplink], interfaceIndex: 1)
    }

    @Test func firstResolutionIsReportedOnce() {
        var table = PeerTable()
        #expect(table.resolve(peer("n1"), for: keyA) == [.peerFound(peer("n1"))])
        #expect(table.resolve(peer("n1"), for: keyA) == [])
    }

    @Test func changedTXTIsReportedAgain() {
        var table = PeerTable()
        _ = table.resolve(peer("n1"), for: keyA)
        #expect(table.resolve(peer("n1", uplink: "1"), for: keyA) == [.peerFound(peer("n1", uplink: "1"))])
    }

    @Test func nodeIsRemovedWithItsLastInstance() {
        var table = PeerTable()
        _ = table.resolve(peer("n1"), for: keyA)
        #expect(table.resolve(peer("n1", name: "node #2"), for: keyB) == [])
        // The reporting instance goes: the other one takes over (its name differs, so it is reported).
        #expect(table.remove(keyA) == [.peerFound(peer("n1", name: "node #2"))])
        #expect(table.remove(keyB) == [.peerRemoved(nodeID: "n1")])
        #expect(table.nodeIDs.isEmpty)
    }

    @Test func unknownRemovalReportsNothing() {
        var table = PeerTable()
        #expect(table.remove(keyA) == [])
    }

    @Test func instanceThatChangesNodeIDRemovesTheOldNode() {
        var table = PeerTable()
        _ = table.resolve(peer("n1"), for: keyA)
        #expect(table.resolve(peer("n2"), for: keyA) == [.peerRemoved(nodeID: "n1"), .peerFound(peer("n2"))])
    }

    @Test func removeAllIsSilentAndPeersAreReportedAfresh() {
        var table = PeerTable()
        _ = table.resolve(peer("n1"), for: keyA)
        table.removeAll()
        #expect(table.nodeIDs.isEmpty)
        #expect(table.resolve(peer("n1"), for: keyA) == [.peerFound(peer("n1"))])
    }
}
