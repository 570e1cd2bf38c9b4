@testable import SyncLayer
import Testing

@Suite struct DialStateMachineTests {
    @Test func anUpgradeInTimeRunsTheSessionAndTheDeadlineThenDoesNothing() {
        var dial = DialStateMachine()
        let result1 = dial.upgradeCompleted()
        #expect(result1 == .runSession)
        let result2 = dial.upgradeDeadlinePassed()
        #expect(result2 == .none)
        let result3 = dial.connectionEnded()
        #expect(result3, "the waiter gets the connection's outcome")
        #expect(dial.state == .ended)
    }

    @Test func anUpgradeThatMissesTheDeadlineIsGivenUpAndItsSessionNeverRuns() {
        var dial = DialStateMachine()
        let result4 = dial.upgradeDeadlinePassed()
        #expect(result4 == .stopWaiting)
        let result5 = dial.upgradeCompleted()
        #expect(result5 == .refuse)
        let result6 = dial.connectionEnded()
        #expect(!result6, "nobody waits any more")
    }

    @Test func cancellingWhileConnectingStopsWaitingAndRefusesALateUpgrade() {
        var dial = DialStateMachine()
        let result7 = dial.abandon()
        #expect(result7 == .stopWaiting)
        let result8 = dial.abandon()
        #expect(result8 == .none, "once")
        let result9 = dial.upgradeCompleted()
        #expect(result9 == .refuse)
    }

    @Test func cancellingARunningSessionClosesIt() {
        var dial = DialStateMachine()
        _ = dial.upgradeCompleted()
        let result10 = dial.abandon()
        #expect(result10 == .stopWaitingAndCloseSession)
        let result11 = dial.connectionEnded()
        #expect(!result11)
    }

    @Test func afterTheConnectionEndedNothingIsAbandoned() {
        var dial = DialStateMachine()
        let result12 = dial.connectionEnded()
        #expect(result12)
        let result13 = dial.abandon()
        #expect(result13 == .none)
        let result14 = dial.upgradeDeadlinePassed()
        #expect(result14 == .none)
    }
}
