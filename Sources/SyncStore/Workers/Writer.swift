import SyncCore

/// The single writer of a database: one connection on one thread, committing in groups.
///
/// It takes every job queued since its last commit, runs them in one transaction (each in its own
/// savepoint when there are several, so a failing job is undone alone), commits once, and only then
/// resumes the callers. Many concurrent writers therefore share one commit and one `fsync`, and a
/// write that returned is durable.
final class Writer: Sendable {
    private let queue = JobQueue<any WriteJob>()
    private let thread: ThreadCompletion

    init(connection: SQLiteConnection, nodeID: NodeID, wallClock: any WallClock, state: WriterState,
         notifier: CommitNotifier, maxBatch: Int = 1024, name: String) {
        let queue = self.queue
        let box = ConnectionBox(connection)
        thread = startDatabaseThread(name: "\(name).writer") {
            let connection = box.take()
            var state = state
            while let jobs = queue.pop(upTo: maxBatch) {
                state = Writer.commit(jobs, connection: connection, nodeID: nodeID, wallClock: wallClock, state: state, notifier: notifier)
            }
        }
    }

    /// Runs `body` inside a transaction and returns its result once the transaction has committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (inout WriteContext) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let job = ContinuationWriteJob(body: body, continuation: continuation)
            if !queue.push(job) { job.fail(StoreError.closed) }
        }
    }

    /// Commits what is queued, then ends the thread.
    func close() async {
        queue.close()
        await thread.wait()
    }

    private static func commit(_ jobs: ArraySlice<any WriteJob>, connection: SQLiteConnection, nodeID: NodeID,
                               wallClock: any WallClock, state: WriterState, notifier: CommitNotifier) -> WriterState {
        do {
            try connection.execute("BEGIN IMMEDIATE")
        } catch {
            for job in jobs { job.fail(error) }
            return state
        }
        var context = WriteContext(connection: connection, nodeID: nodeID, wallClock: wallClock, state: state)
        var succeeded: [any WriteJob] = []
        var failed: [(any WriteJob, any Error)] = []
        var touched: Set<String> = []
        if jobs.count == 1, let job = jobs.first {
            do {
                try job.execute(&context)
                succeeded.append(job)
                touched = context.touched
            } catch {
                try? connection.execute("ROLLBACK")
                job.fail(error)
                return state
            }
        } else {
            for job in jobs {
                let before = context.state
                context.touched = []
                do {
                    try connection.execute("SAVEPOINT job")
                    try job.execute(&context)
                    try connection.execute("RELEASE job")
                    succeeded.append(job)
                    touched.formUnion(context.touched)
                } catch {
                    try? connection.execute("ROLLBACK TO job")
                    try? connection.execute("RELEASE job")
                    context.state = before
                    failed.append((job, error))
                }
            }
        }
        do {
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            for job in jobs { job.fail(error) }
            return state
        }
        if !touched.isEmpty { notifier.publish(touched) }
        for job in succeeded { job.succeed() }
        for (job, error) in failed { job.fail(error) }
        return context.state
    }
}
