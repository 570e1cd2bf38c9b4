#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Starts a thread (POSIX, 1 MiB of stack) that runs `body` once; `wait()` on the result returns
/// when it has. `name` says which thread could not be started, should that ever happen.
package func startDatabaseThread(name: String, body: @escaping @Sendable () -> Void) -> ThreadCompletion {
    let completion = ThreadCompletion()
    let start = Unmanaged.passRetained(ThreadBody {
        body()
        completion.finish()
    })
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, 1 << 20)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let created = pthread_create(&thread, &attributes, { argument in
        Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue().run()
        return nil
    }, start.toOpaque())
    precondition(created == 0, "could not start the database thread \(name): error \(created)")
    return completion
}

/// Runs `body` on a thread of its own and returns its result. Opening a database (migrations, WAL
/// recovery, the first reads) is blocking file I/O, which must not hold one of the few threads of
/// Swift's cooperative pool.
package func onDatabaseThread<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        _ = startDatabaseThread(name: name) { continuation.resume(with: Result { try body() }) }
    }
}

/// A thread's body in a class, to pass through `pthread_create`'s one pointer argument.
private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void

    init(_ run: @escaping @Sendable () -> Void) {
        self.run = run
    }
}

/// Lets async code wait for a database thread to end.
package final class ThreadCompletion: Sendable {
    private struct State {
        var done = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    package func finish() {
        let waiting = state.withLock { state in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiting { waiter.resume() }
    }

    package func wait() async {
        await withCheckedContinuation { continuation in
            let finished = state.withLock { state in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if finished { continuation.resume() }
        }
    }
}
