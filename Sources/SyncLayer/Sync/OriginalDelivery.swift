import SyncCore
import SyncStore

/// When a change written on the WebSocket to a backend of the original protocol counts as delivered
/// (that protocol has no acknowledgement; while the session has a change in flight, the poller does
/// not also write it over REST). Pure: times are monotonic nanoseconds given by the caller. The
/// rules, also in `Docs/Protocol.md`:
///
/// - **A `pong` that answers a `ping` sent after the change.** Backends answer a connection's frames
///   in order, so the backend has read it. Pongs carry no id: the k-th pong is taken to answer the
///   k-th ping, which confirms too little, never too much, if the backend skips some.
/// - **The connection still open `settle` after the change was written.** The realtime link sends
///   WebSocket ping frames every period (``RealtimeLink/webSocketPingPeriod(_:)``) and closes the
///   connection when one goes unanswered for a period; every WebSocket library answers them, and it
///   answers in stream order. So with `settle` = two periods and a margin, a connection still open then has had a ping sent
///   after the change answered: the backend's WebSocket read the change.
/// - **An `error` RATE_LIMIT_EXCEEDED or SERVER_ERROR** takes back everything not yet confirmed, to
///   be written again.
/// - **An `error` UNAUTHORIZED or AUTH_FAILED** takes it back too, and ends the session: the next
///   one authenticates first and writes it again (`RealtimeSession`).
///
/// Until one of these, the change stays in the outbox, and the next connection sends it again (the
/// original frames carry the whole document or the changed fields, keyed by record id).
struct OriginalDelivery: Sendable {
    struct Written: Sendable {
        let change: Change
        let at: UInt64
        /// Pings sent before the change was written.
        let pingsBefore: Int
    }

    let settle: UInt64
    /// Oldest first.
    private(set) var written: [Written] = []
    private(set) var pingsSent = 0
    private(set) var pongsReceived = 0

    init(settle: Duration) {
        self.settle = UInt64(max(1, settle.components.seconds * 1_000_000_000 + settle.components.attoseconds / 1_000_000_000))
    }

    /// `changes` were written at `now`.
    mutating func wrote(_ changes: [Change], at now: UInt64) {
        written.append(contentsOf: changes.map { Written(change: $0, at: now, pingsBefore: pingsSent) })
    }

    /// Whether a change was written since the last ping (a ping after it would confirm it sooner).
    var wantsPing: Bool {
        guard let last = written.last else { return false }
        return last.pingsBefore == pingsSent
    }

    /// A ping is about to be written.
    mutating func pingSent() {
        pingsSent += 1
    }

    /// A pong arrived: the changes it confirms.
    mutating func pongReceived() -> [Change] {
        pongsReceived = min(pongsReceived + 1, pingsSent)
        let confirmed = written.prefix { $0.pingsBefore < pongsReceived }
        written.removeFirst(confirmed.count)
        return confirmed.map(\.change)
    }

    /// The changes the connection has stayed open long enough to confirm by `now`.
    mutating func tick(at now: UInt64) -> [Change] {
        let confirmed = written.prefix { $0.at + settle <= now }
        written.removeFirst(confirmed.count)
        return confirmed.map(\.change)
    }

    /// The backend refused writes: everything unconfirmed, to write again.
    mutating func refused() -> [Change] {
        defer { written = [] }
        return written.map(\.change)
    }

    /// When ``tick(at:)`` next confirms something, if anything waits.
    var nextDeadline: UInt64? {
        written.first.map { $0.at + settle }
    }
}
