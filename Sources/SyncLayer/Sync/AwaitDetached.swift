import SyncCore

/// Waits for `task`'s result, but stops waiting when the caller is cancelled (throwing
/// `CancellationError`), or when `abandonAfter` has passed and `isStalled()` still holds (a connect
/// that never completes; throwing `stalled`); the task runs on to its own end.
///
/// swift-websocket's connect cannot be cancelled half-way without leaving its socket open, and it
/// has no timeout of its own for the upgrade: a peer or server that accepts TCP and then says
/// nothing would otherwise hold a stopping node (or a dialer) forever.
func awaitDetached<T: Sendable>(_ task: Task<T, any Error>, abandonAfter: Duration? = nil, stalled: any Error = CancellationError(),
                                isStalled: @escaping @Sendable () -> Bool = { true }) async throws -> T {
    let waiter = Locked<CheckedContinuation<T, any Error>?>(nil)
    let take: @Sendable () -> CheckedContinuation<T, any Error>? = {
        waiter.withLock { slot in
            defer { slot = nil }
            return slot
        }
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            waiter.withLock { $0 = continuation }
            Task {
                // Await first: `take()?.resume(with: await …)` would empty the slot before waiting.
                let result = await task.result
                take()?.resume(with: result)
            }
            if let abandonAfter {
                Task {
                    try? await Task.sleep(for: abandonAfter)
                    if isStalled() { take()?.resume(throwing: stalled) }
                }
            }
            if Task.isCancelled { take()?.resume(throwing: CancellationError()) }
        }
    } onCancel: {
        take()?.resume(throwing: CancellationError())
    }
}
