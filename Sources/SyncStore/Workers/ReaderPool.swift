/// Read-only connections, shared by one thread per connection and, for small reads, by callers.
///
/// SQLite calls block; running them on the pool's threads keeps them off Swift's cooperative
/// thread pool. A small read (one document, a watched query) can instead run on the calling thread
/// when a connection is idle and no read is queued (``readInlineIfIdle(_:)``), as the writer runs a
/// write when it is idle: two thread hand-offs (to a reader thread and back) cost more than such a
/// read does.
package final class ReaderPool: Sendable {
    private let core: ReaderCore
    private let threads: [ThreadCompletion]

    /// Starts one thread per connection; the pool owns the connections from now on.
    package init(connections: [SQLiteConnection], name: String) {
        let core = ReaderCore(connections: connections)
        self.core = core
        threads = connections.indices.map { index in
            startDatabaseThread(name: "\(name).reader.\(index)") { core.runThread() }
        }
    }

    /// Runs `body` on a reader thread.
    package func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let queued = core.push { connection in
                continuation.resume(with: Result { try body(connection) })
            }
            if !queued { continuation.resume(throwing: StoreError.closed) }
        }
    }

    /// Runs `body` on the calling thread when a connection is idle and no read is queued before it;
    /// otherwise on a reader thread (``read(_:)``). For reads that take microseconds: a long one
    /// would hold a thread of the cooperative pool.
    package func readInlineIfIdle<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        if let connection = core.takeIdle() {
            defer { core.giveBack(connection) }
            return try body(connection)
        }
        return try await read(body)
    }

    /// Reads queued and not yet taken by a reader thread (tests wait on it).
    package var queuedReads: Int { core.queuedCount }

    /// Finishes queued reads, then ends the threads and closes the connections.
    package func close() async {
        core.close()
        for thread in threads { await thread.wait() }
        core.dropConnections()
    }
}

/// The pool's queue of reads and its idle connections.
///
/// `@unchecked Sendable`: `jobs`, `idle` and `closed` are used only with `condition` locked; a
/// connection taken from `idle` is used by the one thread that took it until it is given back.
private final class ReaderCore: @unchecked Sendable {
    private let condition = Condition()
    private var jobs: [@Sendable (SQLiteConnection) -> Void] = []
    private var head = 0
    private var idle: [SQLiteConnection]
    private let total: Int
    private var closed = false

    init(connections: [SQLiteConnection]) {
        idle = connections
        total = connections.count
    }

    /// Queues a read; `false` when the pool is closed (the read was not queued).
    func push(_ job: @escaping @Sendable (SQLiteConnection) -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        jobs.append(job)
        condition.broadcast()
        return true
    }

    var queuedCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - head
    }

    /// An idle connection for a read on the calling thread, when no queued read waits for one.
    func takeIdle() -> SQLiteConnection? {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, head == jobs.count else { return nil }
        return idle.popLast()
    }

    /// Returns a connection taken by ``takeIdle()`` or a reader thread; wakes the threads only when
    /// one may wait for it: a read is queued, or the pool closed (``dropConnections()``). A read on
    /// its caller's thread wakes nobody: waking both reader threads for nothing after each one cost
    /// four context switches, on a core the caller's next step wanted.
    func giveBack(_ connection: SQLiteConnection) {
        connection.resetUsedStatements()
        condition.lock()
        idle.append(connection)
        if head < jobs.count || closed { condition.broadcast() }
        condition.unlock()
    }

    /// A reader thread: runs queued reads, each on an idle connection, until the pool is closed and
    /// nothing is queued.
    func runThread() {
        while true {
            condition.lock()
            while head == jobs.count || idle.isEmpty {
                if closed && head == jobs.count {
                    condition.unlock()
                    return
                }
                condition.wait()
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            let connection = idle.removeLast()
            condition.unlock()
            job(connection)
            giveBack(connection)
        }
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Once the threads have ended: waits for reads still running on their callers' threads (a
    /// read in progress when the pool closed), then closes every connection.
    func dropConnections() {
        condition.lock()
        while idle.count < total { condition.wait() }
        idle.removeAll()
        condition.unlock()
    }
}
