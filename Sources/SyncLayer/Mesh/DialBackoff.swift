/// How long a dial loop waits before dialling a peer again: from 200 ms, doubled after each failed or
/// short-lived link (400 ms, 800 ms, … up to 5 s); back to 200 ms after a link that lasted 10 s, or
/// when the network changed (``reset()``: the server link came or went, or discovery heard the peer
/// again). The loop adds up to 100 ms of jitter.
struct DialBackoff: Sendable, Equatable {
    static let initial = Duration.milliseconds(200)
    static let maximum = Duration.seconds(5)
    /// A link that lasted longer than this was healthy: the next dial starts from ``initial``.
    static let healthyLink = Duration.seconds(10)

    private(set) var current = initial

    /// A dial attempt ended after `duration` (a link, or a failure); returns the wait before the next.
    mutating func attemptEnded(after duration: Duration) -> Duration {
        current = duration > Self.healthyLink ? Self.initial : min(current * 2, Self.maximum)
        return current
    }

    /// The network changed: dial again soon.
    mutating func reset() {
        current = Self.initial
    }
}
