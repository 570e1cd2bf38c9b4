@testable import SyncLayer
import SyncCore
import SyncDiscovery
import Testing

@Suite struct MeshPartsTests {
    func found(node: String, team: String?, address: String = "192.0.2.7", port: UInt16 = 7001) -> DiscoveredPeer {
        var txt = ["node": node]
        if let team { txt["team"] = team }
        return DiscoveredPeer(nodeID: node, instanceName: "synclayer-\(node)", address: address, port: port, txt: txt, interfaceIndex: 1)
    }

    /// What waits for the relay is bounded like a link's queue: past the limit new changes are
    /// skipped (they are in the store), the relay hears of it once, when it has caught up, and a
    /// batch on an empty queue is always taken.
    @Test func theRelaysQueueSkipsChangesPastItsLimitAndSaysSoOnce() async {
        let queue = ForwardQueue(limit: 10)
        let batch = { (from: UInt64, count: UInt64) in (from..<from + count).map { policyChange("a", $0) } }
        queue.offer(batch(1, 6))
        queue.offer(batch(7, 6)) // 12 > 10: skipped
        queue.offer(batch(13, 6)) // skipped again, no second notice
        queue.offer(batch(19, 4)) // 10: taken
        queue.finish()
        var taken: [[UInt64]] = [], notices: [Bool] = []
        for await changes in queue.batches {
            taken.append(changes.map(\.change.id.seq))
            notices.append(queue.done(with: changes))
        }
        #expect(taken == [Array(1...6), [], Array(19...22)])
        #expect(notices == [false, false, true])

        let empty = ForwardQueue(limit: 10)
        empty.offer(batch(1, 25)) // larger than the limit, on an empty queue
        empty.offer(batch(26, 1))
        empty.finish()
        var sizes: [Int] = []
        notices = []
        for await changes in empty.batches {
            sizes.append(changes.count)
            notices.append(empty.done(with: changes))
        }
        #expect(sizes == [25, 0])
        #expect(notices == [true, false])
    }

    @Test func discoveryDialsPeersOfItsTeamByResolvedAddress() throws {
        let own = NodeID("me")!
        let target = try #require(Mesh.dialTarget(for: found(node: "peer", team: "field"), team: "field", ownID: own))
        #expect(target.0 == NodeID("peer")! && target.1 == "ws://192.0.2.7:7001/mesh")
        let v6 = try #require(Mesh.dialTarget(for: found(node: "peer", team: "field", address: "fe80::1"), team: "field", ownID: own))
        #expect(v6.1 == "ws://[fe80::1]:7001/mesh")
    }

    @Test(arguments: [
        ("peer", "other"), // another team
        ("peer", nil), // no team at all
        ("me", "field"), // this node's own service
        ("not a node id!", "field"), // a node id that breaks the rules
    ] as [(String, String?)])
    func discoveryIgnoresWhatItMustNotDial(node: String, team: String?) {
        #expect(Mesh.dialTarget(for: found(node: node, team: team), team: "field", ownID: NodeID("me")!) == nil)
    }

    @Test func aDialLoopBacksOffFrom200msTo5sAndStartsOverAfterAHealthyLinkOrANetworkChange() {
        var backoff = DialBackoff()
        let waits = (0..<7).map { _ in backoff.attemptEnded(after: .milliseconds(50)) }
        #expect(waits == [.milliseconds(400), .milliseconds(800), .milliseconds(1_600), .milliseconds(3_200), .seconds(5), .seconds(5), .seconds(5)])
        #expect(backoff.attemptEnded(after: .seconds(11)) == .milliseconds(200), "a link that lasted 10 s was healthy")
        _ = backoff.attemptEnded(after: .zero)
        backoff.reset()
        #expect(backoff.current == .milliseconds(200))
    }
}
