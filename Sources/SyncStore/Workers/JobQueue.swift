#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A blocking FIFO of jobs shared by database threads.
///
/// `@unchecked Sendable`: every access to `jobs` and `closed` happens with `condition` locked.
package final class JobQueue<Job>: @unchecked Sendable {
    private let condition = Condition()
    private var jobs: [Job] = []
    private var head = 0
    private var closed = false

    /// Queues a job; `false` when the queue is closed (the job was not queued).
    package func push(_ job: Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Waits for jobs and takes up to `limit` of them; `nil` once the queue is closed and drained.
    package func pop(upTo limit: Int) -> ArraySlice<Job>? {
        condition.lock()
        defer { condition.unlock() }
        while head == jobs.count {
            if closed { return nil }
            condition.wait()
        }
        let end = min(jobs.count, head + limit)
        let taken = jobs[head..<end]
        head = end
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        }
        return taken
    }

    /// Stops accepting jobs; waiting threads finish what is queued, then see `nil`.
    package func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

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
