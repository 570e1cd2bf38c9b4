import Synchronization
import SyncCore

/// Holds the link state, and since when it holds, and tells every listener each change, the
/// current state first.
final class LinkStateBroadcaster: Sendable {
    /// A listener's stream, and whether it ended (its consumer cancelled or dropped it).
    ///
    /// `ended` is fulfilled by the stream's termination handler, which must not take the
    /// broadcaster's lock: that handler runs under the Swift runtime's lock of the cancelled task,
    /// and `set` yields (which takes that same task's lock) while holding the broadcaster's. Had the
    /// handler taken the broadcaster's lock, a cancellation racing a `set` would deadlock (it did,
    /// in a test's `stop()`). Ended listeners are dropped by the next `set` or `stream()`.
    private struct Listener {
        let continuation: AsyncStream<LinkState>.Continuation
        let ended: Promise<Void>
    }

    private struct State {
        var current: LinkState = .disconnected
        var since: UInt64
        var listeners: [Listener] = []

        mutating func dropEnded() {
            listeners.removeAll { $0.ended.current != nil }
        }
    }

    private let state: Mutex<State>
    /// Milliseconds since the epoch, for ``since``.
    private let now: @Sendable () -> UInt64

    init(now: @escaping @Sendable () -> UInt64) {
        self.now = now
        state = Mutex(State(since: now()))
    }

    var current: LinkState { state.withLock { $0.current } }

    /// When the link entered its current state, in milliseconds since the epoch.
    var since: UInt64 { state.withLock { $0.since } }

    /// Listeners whose stream has not ended.
    var listenerCount: Int {
        state.withLock { state in
            state.dropEnded()
            return state.listeners.count
        }
    }

    /// A stream of states, starting with the current one.
    func stream() -> AsyncStream<LinkState> {
        let (stream, continuation) = AsyncStream.makeStream(of: LinkState.self, bufferingPolicy: .bufferingNewest(64))
        let ended = Promise<Void>()
        continuation.onTermination = { _ in ended.fulfill(()) }
        state.withLock { state in
            state.dropEnded()
            state.listeners.append(Listener(continuation: continuation, ended: ended))
            continuation.yield(state.current)
        }
        return stream
    }

    /// Sets the state; listeners hear it only when it changed.
    ///
    /// Listeners are told under the lock, so that they hear states in the order they were set:
    /// told after it, two concurrent `set`s could reach a listener in the other order, and leave it
    /// on a state the link has left (a mesh believing the server lost while its link is up).
    /// `yield` buffers the state and resumes the listener's task, which takes that task's runtime
    /// lock; nothing that holds such a lock takes the broadcaster's (see ``Listener``).
    func set(_ new: LinkState) {
        state.withLock { state in
            guard state.current != new else { return }
            state.current = new
            state.since = now()
            state.dropEnded()
            for listener in state.listeners { listener.continuation.yield(new) }
        }
    }

    func finish() {
        let listeners = state.withLock { state -> [Listener] in
            defer { state.listeners = [] }
            return state.listeners
        }
        for listener in listeners { listener.continuation.finish() }
    }
}
