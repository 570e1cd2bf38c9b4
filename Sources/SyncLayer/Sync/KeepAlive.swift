import SyncCore
import SyncStore
/// Dead-link detection as a pure state machine: ping every `interval`; any frame received counts as
/// life; a link that has received nothing for two intervals is dead, even if TCP never noticed.
/// Times are monotonic nanoseconds given by the caller.
struct KeepAlive: Sendable {
    enum Decision: Equatable, Sendable {
        case none
        case ping
        case dead
    }

    let interval: UInt64
    private(set) var lastReceived: UInt64
    private(set) var lastPing: UInt64

    init(interval: Duration, now: UInt64) {
        self.interval = UInt64(max(1, interval.components.seconds * 1_000_000_000 + interval.components.attoseconds / 1_000_000_000))
        self.lastReceived = now
        self.lastPing = now
    }

    /// A frame arrived.
    mutating func received(at now: UInt64) {
        lastReceived = max(lastReceived, now)
    }

    /// What to do at `now`.
    mutating func tick(at now: UInt64) -> Decision {
        if now >= lastReceived + 2 * interval { return .dead }
        if now >= lastPing + interval {
            lastPing = now
            return .ping
        }
        return .none
    }

    /// When ``tick(at:)`` next has something to do.
    var nextDeadline: UInt64 {
        min(lastPing + interval, lastReceived + 2 * interval)
    }
}

extension Locked where Value == KeepAlive {
    /// Keeps a link alive until it is dead (returns) or the task is cancelled (throws): `ping` when
    /// a ping is due, and `handshakeExpired`, once, if `handshakeDone()` still does not hold at
    /// `handshakeDeadline` (monotonic nanoseconds). Shared by the realtime link and mesh links.
    func run(handshakeDeadline: UInt64, handshakeDone: () -> Bool, handshakeExpired: () throws -> Void,
             ping: () async throws -> Void) async throws {
        var expired = false
        while true {
            let now = monotonicNanos()
            if !expired, now >= handshakeDeadline, !handshakeDone() {
                expired = true
                try handshakeExpired()
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
