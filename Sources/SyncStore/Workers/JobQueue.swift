import Foundation

/// A blocking FIFO of jobs shared by database threads.
///
/// `@unchecked Sendable`: every access to `jobs` and `closed` happens with `condition` locked.
final class JobQueue<Job>: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var head = 0
    private var closed = false

    /// Queues a job; `false` when the queue is closed (the job was not queued).
    func push(_ job: Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Waits for jobs and takes up to `limit` of them; `nil` once the queue is closed and drained.
    func pop(upTo limit: Int) -> ArraySlice<Job>? {
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
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Starts a named thread that runs `body` once; `finished` resumes when it returns.
func startDatabaseThread(name: String, body: @escaping @Sendable () -> Void) -> ThreadCompletion {
    let completion = ThreadCompletion()
    let thread = Thread {
        body()
        completion.finish()
    }
    thread.name = name
    thread.stackSize = 1 << 20
    thread.start()
    return completion
}

/// Lets async code wait for a database thread to end.
///
/// `@unchecked Sendable`: `done` and `waiters` are only touched with `lock` held.
final class ThreadCompletion: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func finish() {
        lock.lock()
        done = true
        let waiting = waiters
        waiters = []
        lock.unlock()
        for waiter in waiting { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            lock.lock()
            if done {
                lock.unlock()
                continuation.resume()
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
    }
}
