#if PostgreSQL
import SyncCore

/// Runs `operation` as a task of its own and waits for it at most `limit`, and only while the caller
/// is not cancelled; then throws (``PostgresStorageError`` or `CancellationError`) and leaves the
/// operation to finish, or not, on its own.
///
/// A postgres-nio query does not end on cancellation, and one written to a connection the database
/// has ended is never answered: seen here as a commit that never returned, which held its WebSocket
/// connection, and so the server's graceful shutdown, forever. The store's statements now go through
/// `queryIfOpen`, which fails at once on a closed connection; this bound stays for what does not (the
/// streamed digest read, the schema setup) and for anything unforeseen. A caller must not inherit such
/// a wait.
func boundedAwait<T: Sendable>(_ limit: Duration, _ what: String,
                               _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = OneOutcome<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            outcome.attach(continuation)
            let work = Task {
                do { outcome.finish(.success(try await operation())) } catch { outcome.finish(.failure(error)) }
            }
            outcome.onFinish(timer: Task {
                try await Task.sleep(for: limit)
                outcome.finish(.failure(PostgresStorageError("\(what) did not finish within \(limit)")))
                work.cancel()
            })
        }
    } onCancel: {
        outcome.finish(.failure(CancellationError()))
    }
}

/// The first of an operation's result, its timeout and its caller's cancellation, handed to one
/// continuation once, whichever order they come in.
private final class OneOutcome<T: Sendable>: Sendable {
    private struct State: Sendable {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var timer: Task<Void, any Error>?
    }
    private let state = Locked(State())

    func attach(_ continuation: CheckedContinuation<T, any Error>) {
        let ready = state.withLock { state -> Result<T, any Error>? in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(with: ready) }
    }

    /// The timer, cancelled once there is an outcome (at once if there already is one).
    func onFinish(timer: Task<Void, any Error>) {
        let done = state.withLock { state -> Bool in
            if state.result != nil { return true }
            state.timer = timer
            return false
        }
        if done { timer.cancel() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, timer) = state.withLock { state -> (CheckedContinuation<T, any Error>?, Task<Void, any Error>?) in
            guard state.result == nil else { return (nil, nil) }
            state.result = result
            defer { state.continuation = nil; state.timer = nil }
            return (state.continuation, state.timer)
        }
        timer?.cancel()
        continuation?.resume(with: result)
    }
}
#endif
