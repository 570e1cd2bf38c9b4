import Synchronization
import SyncCore

/// A value that arrives once; any number of tasks can wait for it.
final class Promise<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [UInt64: CheckedContinuation<Value?, Never>] = [:]
        var nextWaiter: UInt64 = 0
        var abandoned = false
    }

    private let state = Mutex(State())

    /// Sets the value (the first call wins) and wakes the waiters.
    func fulfill(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value?, Never>] in
            guard state.value == nil, !state.abandoned else { return [] }
            state.value = value
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// Gives up: waiters get `nil`.
    func abandon() {
        let waiters = state.withLock { state -> [CheckedContinuation<Value?, Never>] in
            guard state.value == nil else { return [] }
            state.abandoned = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// The value, once set; `nil` if abandoned or if the waiting task is cancelled.
    var value: Value? {
        get async {
            let id = state.withLock { state -> UInt64 in
                defer { state.nextWaiter += 1 }
                return state.nextWaiter
            }
            return await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state -> (Bool, Value?) in
                        if state.value != nil || state.abandoned || Task.isCancelled { return (true, state.value) }
                        state.waiters[id] = continuation
                        return (false, nil)
                    }
                    if ready.0 { continuation.resume(returning: ready.1) }
                }
            } onCancel: {
                let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.resume(returning: nil)
            }
        }
    }

    /// The value if already set.
    var current: Value? { state.withLock { $0.value } }
}
