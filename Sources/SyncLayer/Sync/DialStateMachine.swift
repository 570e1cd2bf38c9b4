/// The life of one outbound WebSocket connection attempt, as a pure state machine that
/// ``WebSocketDial`` carries out.
///
/// swift-websocket's `connect` cannot be cancelled half-way without leaving its socket open (the
/// other side then waits on it), and has no timeout of its own for the upgrade. So the connection
/// runs to its own end, and whoever waits for it may stop waiting first: when cancelled, or when
/// the upgrade has not completed by a deadline. The machine decides, for each event, whether the
/// waiter stops waiting, whether a session that is running must be closed, and whether a
/// connection that completes its upgrade after being abandoned runs its session at all.
struct DialStateMachine: Sendable, Equatable {
    enum State: Sendable, Equatable {
        /// Connecting: TCP, TLS, the HTTP upgrade.
        case connecting
        /// Upgraded: the session runs.
        case running
        /// The waiter stopped waiting; the connection ends on its own.
        case abandoned
        /// The connection ended and the waiter has its outcome.
        case ended
    }

    /// What to do when the upgrade completes.
    enum UpgradeAction: Sendable, Equatable {
        /// Run the session.
        case runSession
        /// Return at once: the dial was abandoned while connecting.
        case refuse
    }

    /// What to do when the waiter gives up (cancellation, or the upgrade deadline).
    enum AbandonAction: Sendable, Equatable {
        /// Stop waiting; the connection has no session to close yet.
        case stopWaiting
        /// Stop waiting and close the running session (which ends the connection).
        case stopWaitingAndCloseSession
        /// Nothing: the attempt is already over, or (for the deadline) the upgrade completed in time.
        case none
    }

    private(set) var state = State.connecting

    /// The upgrade completed.
    mutating func upgradeCompleted() -> UpgradeAction {
        guard state == .connecting else { return .refuse }
        state = .running
        return .runSession
    }

    /// The caller was cancelled, or asked to close the connection.
    mutating func abandon() -> AbandonAction {
        switch state {
        case .connecting:
            state = .abandoned
            return .stopWaiting
        case .running:
            state = .abandoned
            return .stopWaitingAndCloseSession
        case .abandoned, .ended:
            return .none
        }
    }

    /// The upgrade deadline passed: only an attempt still connecting is given up.
    mutating func upgradeDeadlinePassed() -> AbandonAction {
        guard state == .connecting else { return .none }
        state = .abandoned
        return .stopWaiting
    }

    /// The connection ended; returns whether the waiter is still waiting for its outcome.
    mutating func connectionEnded() -> Bool {
        defer { state = .ended }
        return state == .connecting || state == .running
    }
}
