import Synchronization

/// A value that arrives once; any number of tasks can wait for it.
final class Promise<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [CheckedContinuation<Value?, Never>] = []
        var abandoned = false
    }

    private let state = Mutex(State())

    /// Sets the value (the first call wins) and wakes the waiters.
    func fulfill(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value?, Never>] in
            guard state.value == nil, !state.abandoned else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// Gives up: waiters get `nil`.
    func abandon() {
        let waiters = state.withLock { state -> [CheckedContinuation<Value?, Never>] in
            guard state.value == nil else { return [] }
            state.abandoned = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// The value, once set; `nil` if abandoned.
    var value: Value? {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> (Bool, Value?) in
                    if state.value != nil || state.abandoned { return (true, state.value) }
                    state.waiters.append(continuation)
                    return (false, nil)
                }
                if ready.0 { continuation.resume(returning: ready.1) }
            }
        }
    }

    /// The value if already set.
    var current: Value? { state.withLock { $0.value } }
}
