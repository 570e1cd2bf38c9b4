import Synchronization
import SyncCore

/// Holds the link state, and since when it holds, and tells every listener each change, the
/// current state first.
final class LinkStateBroadcaster: Sendable {
    private struct State {
        var current: LinkState = .disconnected
        var since: UInt64
        var listeners: [UInt64: AsyncStream<LinkState>.Continuation] = [:]
        var nextID: UInt64 = 1
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

    /// A stream of states, starting with the current one.
    func stream() -> AsyncStream<LinkState> {
        let (stream, continuation) = AsyncStream.makeStream(of: LinkState.self, bufferingPolicy: .bufferingNewest(64))
        let id = state.withLock { state -> UInt64 in
            defer { state.nextID += 1 }
            state.listeners[state.nextID] = continuation
            continuation.yield(state.current)
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.listeners.removeValue(forKey: id) }
        }
        return stream
    }

    /// Sets the state; listeners hear it only when it changed.
    ///
    /// Listeners are told under the lock, so that they hear states in the order they were set:
    /// told after it, two concurrent `set`s could reach a listener in the other order, and leave it
    /// on a state the link has left (a mesh believing the server lost while its link is up).
    /// `yield` only buffers the state and schedules the listener's task, so nothing runs under the
    /// lock that could take it again.
    func set(_ new: LinkState) {
        state.withLock { state in
            guard state.current != new else { return }
            state.current = new
            state.since = now()
            for listener in state.listeners.values { listener.yield(new) }
        }
    }

    func finish() {
        let listeners = state.withLock { state -> [AsyncStream<LinkState>.Continuation] in
            defer { state.listeners = [:] }
            return Array(state.listeners.values)
        }
        for listener in listeners { listener.finish() }
    }
}
