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
    func set(_ new: LinkState) {
        let listeners = state.withLock { state -> [AsyncStream<LinkState>.Continuation] in
            guard state.current != new else { return [] }
            state.current = new
            state.since = now()
            return Array(state.listeners.values)
        }
        for listener in listeners { listener.yield(new) }
    }

    func finish() {
        let listeners = state.withLock { state -> [AsyncStream<LinkState>.Continuation] in
            defer { state.listeners = [:] }
            return Array(state.listeners.values)
        }
        for listener in listeners { listener.finish() }
    }
}
