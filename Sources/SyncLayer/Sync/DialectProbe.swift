import SyncCore

/// Tells, from the first frame a backend sends, which protocol it speaks (the rule is in
/// `Docs/Protocol.md`, "Which protocol the backend speaks").
///
/// The node opens with `hello`, then a `ping`, then its subscriptions. A server of ours answers
/// every frame of a connection in order, so its first frame is always its `hello`, however busy it
/// is. A backend of the original protocol never sends `hello`: whatever it sends first (a `pong`, a
/// `subscribed`, an `error`, a broadcast) tells it apart. A backend that sends nothing at all within
/// ``wait`` is taken for one of the original protocol too; if a `hello` arrives later after all (a
/// server of ours slower than that), the session ends and the next one starts in our dialect.
struct DialectProbe: Sendable {
    /// What the first frame, or the deadline, decided.
    enum Verdict: Equatable, Sendable {
        /// A server of ours.
        case ours
        /// A backend of the original protocol, and what told.
        case original(DialectEvidence)
        /// A backend of the original protocol that wants an `auth` frame first.
        case originalWantingAuth
    }

    /// What the session does with a frame or a deadline.
    enum Step: Equatable, Sendable {
        /// Nothing decided yet, or already decided and nothing changes.
        case none
        /// Decided now.
        case decided(Verdict)
        /// Taken for a backend of the original protocol, but a `hello` came: it is ours after all.
        case wasOurs
    }

    /// Monotonic nanoseconds after which silence decides.
    let deadline: UInt64
    private(set) var verdict: Verdict?

    init(deadline: UInt64) {
        self.deadline = deadline
    }

    /// A frame arrived (`nil`: one that did not decode).
    mutating func received(_ frame: Frame?) -> Step {
        if case .hello? = frame {
            switch verdict {
            case nil:
                verdict = .ours
                return .decided(.ours)
            case .ours:
                return .none
            case .original, .originalWantingAuth:
                verdict = .ours
                return .wasOurs
            }
        }
        guard verdict == nil else { return .none }
        let decided: Verdict
        switch frame {
        case .error(let error)? where error.code == .authFailed || error.code == .unauthorized:
            decided = .originalWantingAuth
        case .error(let error)? where error.code == .invalidMessage:
            decided = .original(.helloRefused)
        default:
            decided = .original(.answeredOtherwise)
        }
        verdict = decided
        return .decided(decided)
    }

    /// A backend that wanted `auth` accepted it: from now on it is one of the original protocol.
    mutating func authenticated() {
        if verdict == .originalWantingAuth { verdict = .original(.answeredOtherwise) }
    }

    /// Time passed: at the deadline, silence decides.
    mutating func tick(at now: UInt64) -> Step {
        guard verdict == nil, now >= deadline else { return .none }
        verdict = .original(.helloUnanswered)
        return .decided(.original(.helloUnanswered))
    }
}
