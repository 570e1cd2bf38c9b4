@testable import SyncLayer
import SyncCore
import SyncStore
import Testing

@Suite struct RelayPolicyTests {
    let policy = RelayPolicy(hopLimit: 3)

    func peer(_ id: String, uplink: Bool = false, holds: [String: UInt64] = [:]) -> RelayPolicy.Peer {
        RelayPolicy.Peer(nodeID: NodeID(id)!, uplink: uplink, vector: vector(holds))
    }

    @Test(arguments: [
        // (own uplink, peer uplink, relays)
        (false, false, true), (true, false, true), (false, true, true), (true, true, false),
    ])
    func nothingCrossesALinkWhoseTwoEndsReachTheServer(own: Bool, peer: Bool, relays: Bool) {
        #expect(RelayPolicy.relays(ownUplink: own, peerUplink: peer) == relays)
    }

    @Test func aBatchGoesToEveryPeerButItsSenderAndThoseItWasSentTo() {
        let peers = [peer("a"), peer("b"), peer("c"), peer("d")]
        let targets = policy.targets(peers, ownUplink: false, hops: 2, except: [NodeID("a")!, NodeID("c")!])
        #expect(targets.map(\.nodeID.rawValue) == ["b", "d"])
    }

    @Test func aBatchPastTheHopLimitGoesNowhere() {
        #expect(policy.targets([peer("a")], ownUplink: false, hops: 3, except: []).count == 1)
        #expect(policy.targets([peer("a")], ownUplink: false, hops: 4, except: []).isEmpty)
    }

    @Test func withAnUplinkOnlyPeersWithoutOneAreTargets() {
        let targets = policy.targets([peer("a", uplink: true), peer("b")], ownUplink: true, hops: 1, except: [])
        #expect(targets.map(\.nodeID.rawValue) == ["b"])
    }

    @Test func aPeerGetsOnlyWhatItsVectorLacks() {
        let changes = [policyChange("x", 1), policyChange("x", 2), policyChange("y", 1)]
        let plan = policy.plan(changes, for: peer("a", holds: ["x": 1]), ownUplink: false)
        #expect(plan.now == [policyChange("x", 2), policyChange("y", 1)])
        #expect(plan.deferred.isEmpty)
    }

    @Test func aGatewayDefersWhatTheServerHoldsAndSendsTheRestAtOnce() {
        let changes = [policyChange("x", 1, acknowledged: true), policyChange("x", 2)]
        let plan = policy.plan(changes, for: peer("a"), ownUplink: true)
        #expect(plan.now == [policyChange("x", 2)])
        #expect(plan.deferred == [policyChange("x", 1, acknowledged: true)])
        // Without an uplink this node is nobody's gateway: everything goes at once.
        #expect(policy.plan(changes, for: peer("a"), ownUplink: false).now == changes)
    }

    @Test func deferredChangesAreReleasedOnlyToAPeerStillWithoutUplinkAndOnlyWhatItLacks() {
        let held = [policyChange("x", 1, acknowledged: true), policyChange("x", 2, acknowledged: true)]
        #expect(policy.release(held, to: peer("a", holds: ["x": 1]), ownUplink: true) == [held[1]])
        #expect(policy.release(held, to: peer("a", uplink: true), ownUplink: true).isEmpty)
    }

    @Test func deferredRelaysFallDueOneGraceAfterTheFirstOfARun() {
        var held = DeferredRelays(grace: .seconds(1))
        let result1 = held.takeDue(now: seconds(100))
        #expect(result1 == nil)
        held.add([policyChange("x", 1, acknowledged: true)], now: seconds(10))
        held.add([policyChange("x", 2, acknowledged: true)], now: seconds(10.5))
        #expect(held.due == seconds(11))
        let result2 = held.takeDue(now: seconds(10.9))
        #expect(result2 == nil)
        let result3 = held.takeDue(now: seconds(11))
        #expect(result3?.count == 2)
        #expect(held.due == nil)
        let result4 = held.takeDue(now: seconds(20))
        #expect(result4 == nil)
        held.add([], now: seconds(30))
        #expect(held.due == nil, "holding nothing sets no deadline")
    }
}
