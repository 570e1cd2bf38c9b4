@testable import SyncLayer
import Testing
import SyncCore

@Suite struct RealtimeLinkStateMachineTests {
    func machine(attempts: Int = 3) -> RealtimeLinkStateMachine {
        RealtimeLinkStateMachine(configuration: .init(reconnectDelay: .seconds(5), maxAttempts: attempts, probeInterval: .seconds(300)))
    }

    @Test func backsOffThenFallsBackToPollingAndKeepsProbing() {
        var link = machine()
        #expect(link.start() == .connect)
        #expect(link.state == .connecting)
        // The first connection fails, then every reconnection: 5 s, 10 s, 20 s (no jitter at random 0.5).
        #expect(link.connectionEnded(random: 0.5) == .wait(.seconds(5)))
        #expect(link.state == .reconnecting)
        #expect(link.waitElapsed() == .connect)
        #expect(link.connectionEnded(random: 0.5) == .wait(.seconds(10)))
        #expect(link.waitElapsed() == .connect)
        #expect(link.connectionEnded(random: 0.5) == .wait(.seconds(20)))
        #expect(link.waitElapsed() == .connect)
        // Attempts exhausted: error (polling), probing at the poll interval, forever.
        #expect(link.connectionEnded(random: 0.5) == .wait(.seconds(300)))
        #expect(link.state == .error)
        for _ in 0..<5 {
            #expect(link.waitElapsed() == .connect)
            #expect(link.connectionEnded(random: 0.5) == .wait(.seconds(300)))
        }
        // A probe that completes its handshake recovers the link without a restart.
        #expect(link.waitElapsed() == .connect)
        link.handshakeCompleted()
        #expect(link.state == .connected)
    }

    @Test func attemptsResetOnlyAfterACompletedHandshake() {
        var link = machine(attempts: 2)
        _ = link.start()
        _ = link.connectionEnded(random: 0.5)   // failure 1
        _ = link.waitElapsed()
        // TCP connected but the handshake never completed: still a failure.
        _ = link.connectionEnded(random: 0.5)   // failure 2
        _ = link.waitElapsed()
        #expect(link.connectionEnded(random: 0.5) == .wait(.seconds(300)), "max attempts stops the loop")
        var recovered = machine(attempts: 2)
        _ = recovered.start()
        _ = recovered.connectionEnded(random: 0.5)
        _ = recovered.waitElapsed()
        recovered.handshakeCompleted()
        #expect(recovered.failures == 0)
        #expect(recovered.connectionEnded(random: 0.5) == .wait(.seconds(5)), "a lost link starts again from the first delay")
    }

    /// A backend that takes every session and then refuses it (a revoked token) is tried again at a
    /// growing delay, then polled; a session that ends otherwise starts again from the first delay.
    @Test func sessionsRefusedAfterTheirHandshakeBackOffLikeFailedAttempts() {
        var link = machine(attempts: 3)
        _ = link.start()
        var delays: [RealtimeLinkStateMachine.Action] = []
        for _ in 0..<4 {
            link.handshakeCompleted()
            delays.append(link.connectionEnded(random: 0.5, refused: true))
            _ = link.waitElapsed()
        }
        #expect(delays == [.wait(.seconds(5)), .wait(.seconds(10)), .wait(.seconds(20)), .wait(.seconds(300))])
        #expect(link.state == .error)
        var recovered = machine(attempts: 3)
        _ = recovered.start()
        recovered.handshakeCompleted()
        _ = recovered.connectionEnded(random: 0.5, refused: true)
        _ = recovered.waitElapsed()
        recovered.handshakeCompleted()
        _ = recovered.connectionEnded(random: 0.5, refused: true)
        _ = recovered.waitElapsed()
        recovered.handshakeCompleted()
        #expect(recovered.connectionEnded(random: 0.5) == .wait(.seconds(5)), "a link lost otherwise starts again from the first delay")
        #expect(recovered.refusals == 0)
    }

    @Test func disconnectNeverReconnects() {
        var link = machine()
        _ = link.start()
        link.handshakeCompleted()
        #expect(link.stop() == .idle)
        #expect(link.connectionEnded(random: 0.5) == .idle)
        #expect(link.state == .disconnected)
        #expect(link.waitElapsed() == .idle)
        #expect(link.start() == .connect)
    }

    @Test func jitterStaysWithinTwentyPercentAndTheDelayIsCapped() {
        let link = machine()
        #expect(link.delay(attempt: 1, random: 0) == .seconds(4))
        #expect(link.delay(attempt: 1, random: 1) == .seconds(6))
        #expect(link.delay(attempt: 30, random: 0.5) == .seconds(60))
    }
}

@Suite struct KeepAliveTests {
    let second: UInt64 = 1_000_000_000

    @Test func pingsEveryIntervalAndDeclaresASilentLinkDeadAfterTwo() {
        var keepAlive = KeepAlive(interval: .seconds(30), now: 0)
        #expect(keepAlive.tick(at: 10 * second) == .none)
        #expect(keepAlive.tick(at: 30 * second) == .ping)
        #expect(keepAlive.tick(at: 31 * second) == .none)
        #expect(keepAlive.nextDeadline == 60 * second)
        #expect(keepAlive.tick(at: 60 * second) == .dead, "nothing received for two intervals, though TCP never closed")
    }

    @Test func withUnansweredPingsALinkIsDeadTwoIntervalsAfterTheFirstPingNothingAnswered() {
        var keepAlive = KeepAlive(interval: .seconds(30), now: 0, rule: .unansweredPings)
        keepAlive.answersPings = true
        keepAlive.pinged(at: 1 * second)  // the probe's ping, right after hello
        keepAlive.received(at: 2 * second)  // answered
        #expect(keepAlive.tick(at: 30 * second) == .ping)
        #expect(keepAlive.tick(at: 60 * second) == .ping, "one interval unanswered is not two")
        #expect(keepAlive.tick(at: 89 * second) == .none)
        #expect(keepAlive.tick(at: 90 * second) == .dead)
    }

    @Test func aBackendThatNeverAnsweredAPingIsNotDeadForItsSilence() {
        var keepAlive = KeepAlive(interval: .seconds(30), now: 0, rule: .unansweredPings)
        for t in stride(from: UInt64(30), through: 600, by: 30) {
            #expect(keepAlive.tick(at: t * second) == .ping)
        }
    }

    @Test func anyFrameReceivedKeepsTheLinkAlive() {
        var keepAlive = KeepAlive(interval: .seconds(30), now: 0)
        for t in stride(from: UInt64(10), through: 300, by: 10) {
            keepAlive.received(at: t * second)
            #expect(keepAlive.tick(at: t * second) != .dead)
        }
    }
}
