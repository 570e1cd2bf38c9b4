import SyncCore
/// The realtime link's reconnection logic as a pure state machine: it is told what happened and
/// answers what to do next. Time and randomness come from the caller, so it is tested on its own.
///
/// - The attempt counter resets only after a completed handshake, never on a bare TCP connect, so
///   `maxAttempts` really stops the loop (defect 11 of the original).
/// - After `maxAttempts` failed reconnections it goes to `error`: the node polls, and probes the
///   link every `probeInterval`, so it recovers without a restart.
/// - A stop (`disconnect()`) never leads to a reconnection (defect 12).
/// - A connection the backend refused after its handshake (``RealtimeSession/AuthenticationRefused``)
///   counts as an attempt too: a backend that refuses every session is tried again at a growing
///   delay, then polled, instead of every `reconnectDelay` forever.
struct RealtimeLinkStateMachine: Sendable {
    struct Configuration: Sendable {
        /// Delay before the first reconnection attempt.
        var reconnectDelay: Duration
        /// Reconnection attempts before falling back to polling.
        var maxAttempts: Int
        /// Ceiling of the backed-off delay.
        var maxDelay: Duration = .seconds(60)
        /// Interval of probes once attempts are exhausted (the poll interval).
        var probeInterval: Duration
        /// Jitter as a fraction of the delay (0.2: ±20 %).
        var jitter: Double = 0.2
    }

    /// What the link should do next.
    enum Action: Equatable, Sendable {
        /// Open a connection now.
        case connect
        /// Wait this long, then call ``waitElapsed()``.
        case wait(Duration)
        /// Do nothing until started again.
        case idle
    }

    let configuration: Configuration
    private(set) var state: LinkState = .disconnected
    /// Consecutive failed attempts since the last completed handshake.
    private(set) var failures = 0
    /// Consecutive connections that completed their handshake and were then refused.
    private(set) var refusals = 0
    private var stopped = true

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The user (or the node starting) asks for the link.
    mutating func start() -> Action {
        stopped = false
        failures = 0
        refusals = 0
        state = .connecting
        return .connect
    }

    /// The user asks for the link to go away; it stays away until ``start()``.
    mutating func stop() -> Action {
        stopped = true
        state = .disconnected
        return .idle
    }

    /// The server's hello arrived: the link is up.
    mutating func handshakeCompleted() {
        guard !stopped else { return }
        failures = 0
        state = .connected
    }

    /// A connection ended (or failed to open). `random` is in 0..<1, for jitter. `refused`: the
    /// backend refused the connection after its handshake.
    mutating func connectionEnded(random: Double, refused: Bool = false) -> Action {
        guard !stopped else {
            state = .disconnected
            return .idle
        }
        if state == .connected {
            failures = 0
            refusals = refused ? refusals + 1 : 0
        } else {
            failures += 1
        }
        let attempts = max(failures, refusals)
        if state == .error || attempts > configuration.maxAttempts {
            state = .error
            return .wait(configuration.probeInterval)
        }
        state = .reconnecting
        return .wait(delay(attempt: max(1, attempts), random: random))
    }

    /// A wait asked for by ``connectionEnded(random:)`` is over.
    mutating func waitElapsed() -> Action {
        guard !stopped else { return .idle }
        if state != .error { state = .connecting }
        return .connect
    }

    /// `reconnectDelay × 2^(attempt − 1)`, capped, with jitter.
    func delay(attempt: Int, random: Double) -> Duration {
        let base = configuration.reconnectDelay * Int(min(1 << 20, 1 << min(attempt - 1, 20)))
        let capped = min(base, configuration.maxDelay)
        let factor = 1 + configuration.jitter * (2 * random - 1)
        return capped * factor
    }
}
