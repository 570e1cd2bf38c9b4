@testable import SyncLayer
import SyncCore
import SyncStore
import Testing

@Suite struct UploadPolicyTests {
    func policy(mesh: Bool) -> UploadPolicy {
        UploadPolicy(ownID: NodeID("me")!, mesh: mesh, gatewayGrace: .seconds(1), maxExtensions: 2)
    }

    let outbox = [policyChange("me", 1).change, policyChange("peer", 1).change, policyChange("me", 2).change]

    @Test func atHandshakeAMeshNodeUploadsOnlyItsOwnChanges() {
        #expect(policy(mesh: true).atHandshake(outbox).map(\.id.origin.rawValue) == ["me", "me"])
        #expect(policy(mesh: true).foreign(outbox).map(\.id.origin.rawValue) == ["peer"])
    }

    @Test func withoutAMeshEveryChangeGoesAtOnceAndNoneWaits() {
        #expect(policy(mesh: false).atHandshake(outbox) == outbox)
        #expect(policy(mesh: false).foreign(outbox).isEmpty)
    }

    /// With no realtime session REST is the only uplink; while one runs (a poll retrying a failure
    /// with the link up, `syncNow()`), the session sends the node's own changes and its gateway
    /// other origins', after its wait: REST sends nothing.
    @Test func overRESTTheWholeOutboxGoesUnlessASessionRuns() {
        #expect(policy(mesh: true).overREST(outbox, sessionLive: false) == outbox)
        #expect(policy(mesh: false).overREST(outbox, sessionLive: false) == outbox)
        #expect(policy(mesh: true).overREST(outbox, sessionLive: true).isEmpty)
        #expect(policy(mesh: false).overREST(outbox, sessionLive: true).isEmpty)
    }

    @Test func aPeersChangesGoToTheServerOnlyWithAnUplinkAndOnlyThoseItLacks() {
        let applied = [policyChange("peer", 1), policyChange("peer", 2, acknowledged: true)]
        #expect(policy(mesh: true).fromPeer(applied, ownUplink: true) == [applied[0].change])
        #expect(policy(mesh: true).fromPeer(applied, ownUplink: false).isEmpty)
    }

    @Test func theGatewayWaitsAGraceThenUploadsWhatTheServerDidNotReport() {
        var gateway = policy(mesh: true).gateway(waiting: 5, now: seconds(0))
        #expect(gateway.first == .wait(until: seconds(1)))
        let result1 = gateway.next(foreignWaiting: 5, now: seconds(0.5))
        #expect(result1 == .wait(until: seconds(1)), "not before the deadline")
        let result2 = gateway.next(foreignWaiting: 5, now: seconds(1))
        #expect(result2 == .upload, "no progress in a grace")
    }

    @Test func theGatewayWaitsAgainWhileTheCountGoesDownAtMostMaxExtensionsTimes() {
        var gateway = policy(mesh: true).gateway(waiting: 10, now: seconds(0))
        let result3 = gateway.next(foreignWaiting: 8, now: seconds(1))
        #expect(result3 == .wait(until: seconds(2)))
        let result4 = gateway.next(foreignWaiting: 6, now: seconds(2))
        #expect(result4 == .wait(until: seconds(3)))
        let result5 = gateway.next(foreignWaiting: 4, now: seconds(3))
        #expect(result5 == .upload, "two extensions at most")
    }

    @Test func theGatewayIsDoneWhenNothingOfOthersWaits() {
        var gateway = policy(mesh: true).gateway(waiting: 3, now: seconds(0))
        let result6 = gateway.next(foreignWaiting: 0, now: seconds(0.2))
        #expect(result6 == .done)
    }
}
