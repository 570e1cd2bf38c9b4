@testable import SyncLayer
import SyncCore
import Testing

@Suite struct LinkTableTests {
    func open(_ table: inout LinkTable, _ direction: PeerStatus.Direction) -> MeshLink {
        table.open(direction: direction, address: "127.0.0.1", limit: 10, queueLimit: 100, deferGrace: .seconds(1))!
    }

    @Test func connectionsInHandshakeAreCapped() {
        var table = LinkTable()
        let result1 = table.open(direction: .inbound, address: "a", limit: 1, queueLimit: 1, deferGrace: .seconds(1))
        #expect(result1 != nil)
        let result2 = table.open(direction: .inbound, address: "b", limit: 1, queueLimit: 1, deferGrace: .seconds(1))
        #expect(result2 == nil)
    }

    @Test func ofTwoLinksToOnePeerBothSidesKeepTheOneDialledByTheSmallerID() {
        // This node is "b"; the peer "a" is smaller: the link "a" dialled (inbound here) is kept.
        var table = LinkTable()
        let outbound = open(&table, .outbound), inbound = open(&table, .inbound)
        let a = NodeID("a")!, b = NodeID("b")!
        let result3 = table.register(outbound, peer: a, ownID: b, maxLinks: 8)
        #expect(result3 == .registered)
        let result4 = table.register(inbound, peer: a, ownID: b, maxLinks: 8)
        #expect(result4 == .replaced(outbound))
        #expect(table.byPeer[a] === inbound)
        // The other way round, the kept link is not replaced.
        var other = LinkTable()
        let kept = open(&other, .inbound), late = open(&other, .outbound)
        let result5 = other.register(kept, peer: a, ownID: b, maxLinks: 8)
        #expect(result5 == .registered)
        let result6 = other.register(late, peer: a, ownID: b, maxLinks: 8)
        #expect(result6 == .refused("already linked to a"))
    }

    @Test func registeredPeersAreCappedAtMaxLinks() {
        var table = LinkTable()
        let first = open(&table, .inbound), second = open(&table, .inbound)
        let result7 = table.register(first, peer: NodeID("p1")!, ownID: NodeID("me")!, maxLinks: 1)
        #expect(result7 == .registered)
        let result8 = table.register(second, peer: NodeID("p2")!, ownID: NodeID("me")!, maxLinks: 1)
        #expect(result8 == .refused("this node has its maximum of 1 links"))
    }

    @Test func closingForgetsTheLinkAndReportsItsPeerOnlyIfItWasThePeers() {
        var table = LinkTable()
        let link = open(&table, .inbound), stray = open(&table, .inbound)
        link.update { $0 = MeshLink.Peer(nodeID: NodeID("p")!, uplink: false, vector: VersionVector(), since: 0) }
        let result9 = table.register(link, peer: NodeID("p")!, ownID: NodeID("me")!, maxLinks: 8)
        #expect(result9 == .registered)
        let result10 = table.close(stray)
        #expect(result10 == nil)
        let result11 = table.close(link)
        #expect(result11 == NodeID("p")!)
        #expect(table.links.isEmpty && table.byPeer.isEmpty)
    }
}
