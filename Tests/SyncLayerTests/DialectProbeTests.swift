@testable import SyncLayer
import SyncCore
import SyncStore
import Testing

/// The rule that tells a server of ours from a backend of the original protocol by its first frame.
@Suite struct DialectProbeTests {
    static let hello = Frame.hello(Hello(nodeID: ChangeSigner().nodeID, vector: VersionVector(), cursor: 0, time: nil))

    @Test(arguments: [
        (Frame.pong(time: nil), DialectProbe.Verdict.original(.answeredOtherwise)),
        (.subscribed(collection: "todos"), .original(.answeredOtherwise)),
        (.change(ChangeMessage(kind: .insert, collection: "todos", recordID: "1", data: [:], timestamp: nil, metadata: [:])),
         .original(.answeredOtherwise)),
        (.error(FrameError(.invalidMessage, "unknown type")), .original(.helloRefused)),
        (.error(FrameError(.unauthorized, "authenticate first")), .originalWantingAuth),
        (.error(FrameError(.authFailed, "bad token")), .originalWantingAuth),
        (hello, .ours),
    ])
    func theFirstFrameDecides(frame: Frame, verdict: DialectProbe.Verdict) {
        var probe = DialectProbe(deadline: 100)
        #expect(probe.received(frame) == .decided(verdict))
        #expect(probe.tick(at: 1_000) == .none, "decided once")
        #expect(probe.received(.pong(time: nil)) == .none)
    }

    @Test func aFrameThatDoesNotDecodeIsNotAHello() {
        var probe = DialectProbe(deadline: 100)
        #expect(probe.received(nil) == .decided(.original(.answeredOtherwise)))
    }

    @Test func silenceDecidesOnlyAtTheDeadline() {
        var probe = DialectProbe(deadline: 100)
        #expect(probe.tick(at: 99) == .none)
        #expect(probe.tick(at: 100) == .decided(.original(.helloUnanswered)))
    }

    @Test func aHelloAfterTheOriginalVerdictCorrectsIt() {
        var probe = DialectProbe(deadline: 100)
        _ = probe.tick(at: 100)
        #expect(probe.received(Self.hello) == .wasOurs)
        #expect(probe.verdict == .ours)
        #expect(probe.received(Self.hello) == .none)
    }
}

/// When a change written to a backend of the original protocol without REST leaves the outbox.
@Suite struct OriginalDeliveryTests {
    static func change(_ seq: UInt64) -> Change {
        Change(id: ChangeID(origin: ChangeSigner().nodeID, seq: seq), hlc: HLCTimestamp(wallMillis: seq),
               collection: "todos", recordID: "r\(seq)", kind: .insert, fields: [:])
    }

    @Test func aPongConfirmsWhatWasWrittenBeforeThePingItAnswers() {
        var delivery = OriginalDelivery(settle: .seconds(75))
        delivery.pingSent()  // the probe's ping
        delivery.wrote([Self.change(1)], at: 0)
        #expect(delivery.wantsPing)
        delivery.pingSent()
        #expect(!delivery.wantsPing)
        delivery.wrote([Self.change(2)], at: 1)
        #expect(delivery.pongReceived().isEmpty, "the first pong answers the probe's ping")
        #expect(delivery.pongReceived().map(\.id.seq) == [1], "the second answers the ping after change 1, not change 2")
        #expect(delivery.written.map(\.change.id.seq) == [2])
    }

    @Test func moreLatePongsThanPingsConfirmNothingWrittenAfterTheLastPing() {
        var delivery = OriginalDelivery(settle: .seconds(75))
        delivery.pingSent()
        delivery.wrote([Self.change(1)], at: 0)
        _ = delivery.pongReceived()
        _ = delivery.pongReceived()
        #expect(delivery.written.count == 1)
    }

    @Test func theConnectionStayingOpenPastTheSettleTimeConfirms() {
        var delivery = OriginalDelivery(settle: .nanoseconds(100))
        delivery.wrote([Self.change(1)], at: 0)
        delivery.wrote([Self.change(2)], at: 50)
        #expect(delivery.nextDeadline == 100)
        #expect(delivery.tick(at: 99).isEmpty)
        #expect(delivery.tick(at: 100).map(\.id.seq) == [1])
        #expect(delivery.tick(at: 150).map(\.id.seq) == [2])
        #expect(delivery.nextDeadline == nil)
    }

    @Test func aRefusalTakesBackEverythingUnconfirmed() {
        var delivery = OriginalDelivery(settle: .seconds(75))
        delivery.wrote([Self.change(1), Self.change(2)], at: 0)
        #expect(delivery.refused().map(\.id.seq) == [1, 2])
        #expect(delivery.written.isEmpty)
    }
}
