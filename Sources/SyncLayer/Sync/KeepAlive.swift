import SyncCore
import SyncStore

/// Dead-link detection as a pure state machine: ping every `interval`; any frame received counts as
/// life. Times are monotonic nanoseconds given by the caller. When a link is dead depends on the
/// ``Rule``:
/// - ``Rule/silence`` (mesh links, where both sides send heartbeats): nothing received for two
///   intervals, even if TCP never noticed.
/// - ``Rule/unansweredPings`` (the realtime link): two intervals in which a ping was sent and nothing
///   came back, counted from the first unanswered ping, and only once the other side has shown it
///   answers pings (``answersPings``). A backend of the original protocol that never answers `ping`
///   is not declared dead by its silence; the WebSocket's own ping frames, which every WebSocket
///   library answers, watch that link instead (``RealtimeLink``).
struct KeepAlive: Sendable {
    enum Decision: Equatable, Sendable {
        case none
        case ping
        case dead
    }

    /// What counts as a dead link.
    enum Rule: Sendable {
        case silence
        case unansweredPings
    }

    let interval: UInt64
    let rule: Rule
    private(set) var lastReceived: UInt64
    private(set) var lastPing: UInt64
    /// The first ping sent since something was last received.
    private(set) var firstUnansweredPing: UInt64?
    /// Whether the other side answers pings, so that its silence means something
    /// (``Rule/unansweredPings`` only).
    var answersPings = false

    init(interval: Duration, now: UInt64, rule: Rule = .silence) {
        self.interval = UInt64(max(1, interval.components.seconds * 1_000_000_000 + interval.components.attoseconds / 1_000_000_000))
        self.rule = rule
        self.lastReceived = now
        self.lastPing = now
    }

    /// A frame arrived.
    mutating func received(at now: UInt64) {
        lastReceived = max(lastReceived, now)
        firstUnansweredPing = nil
    }

    /// A ping was sent outside ``tick(at:)`` (the realtime session's probe, or one after a write).
    mutating func pinged(at now: UInt64) {
        if firstUnansweredPing == nil { firstUnansweredPing = now }
    }

    /// What to do at `now`.
    mutating func tick(at now: UInt64) -> Decision {
        if let deadline = deadAt, now >= deadline { return .dead }
        if now >= lastPing + interval {
            lastPing = now
            pinged(at: now)
            return .ping
        }
        return .none
    }

    /// When the link will be dead if nothing arrives, if ever.
    private var deadAt: UInt64? {
        switch rule {
        case .silence: return lastReceived + 2 * interval
        case .unansweredPings:
            guard answersPings, let first = firstUnansweredPing else { return nil }
            return first + 2 * interval
        }
    }

    /// When ``tick(at:)`` next has something to do.
    var nextDeadline: UInt64 {
        min(lastPing + interval, deadAt ?? .max)
    }
}

extension Locked where Value == KeepAlive {
    /// Keeps a link alive until it is dead (returns) or the task is cancelled (throws): `ping` when
    /// a ping is due, and `handshakeExpired`, once, if `handshakeDone()` still does not hold at
    /// `handshakeDeadline` (monotonic nanoseconds). Shared by the realtime link and mesh links.
    func run(handshakeDeadline: UInt64, handshakeDone: () -> Bool, handshakeExpired: () async throws -> Void,
             ping: () async throws -> Void) async throws {
        var expired = false
        while true {
            let now = monotonicNanos()
            if !expired, now >= handshakeDeadline, !handshakeDone() {
                expired = true
                try await handshakeExpired()
            }
            switch withLock({ $0.tick(at: now) }) {
            case .dead: return
            case .ping: try await ping()
            case .none: break
            }
            var next = withLock { $0.nextDeadline }
            if !expired, !handshakeDone() { next = min(next, handshakeDeadline) }
            let wait = next > now ? next - now : 1_000_000
            try await Task.sleep(for: .nanoseconds(Int64(min(wait, UInt64(Int64.max)))))
        }
    }
}
