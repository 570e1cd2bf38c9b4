#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SyncCore
import Synchronization

/// The single writer of a database: one connection, committing in groups.
///
/// Leader/follower group commit. When the writer is idle, a caller runs its own transaction at once
/// on its own thread (no hand-off: the cheapest possible durable write). Callers that arrive while a
/// transaction is running queue up; the writer's thread then takes every queued job, runs them in
/// one transaction (each in its own savepoint, so a failing job is undone alone), commits once, and
/// only then resumes them. Many concurrent writers therefore share one commit and one `fsync`, and a
/// write that returned is durable.
///
/// With `inlineWhenIdle` off (used for `powerLoss` durability, where a commit waits for `fsync`),
/// every transaction runs on the writer's thread so no Swift concurrency thread blocks on the disk.
package final class Writer: Sendable {
    private let core: WriterCore
    private let thread: ThreadCompletion

    package init(connection: SQLiteConnection, nodeID: NodeID, wallClock: any WallClock, state: WriterState,
         notifier: CommitNotifier, inlineWhenIdle: Bool, maxBatch: Int = 1024, name: String) {
        let core = WriterCore(connection: connection, nodeID: nodeID, wallClock: wallClock, state: state, notifier: notifier,
                              inlineWhenIdle: inlineWhenIdle, maxBatch: maxBatch)
        self.core = core
        thread = startDatabaseThread(name: "\(name).writer") { core.runThread() }
    }

    /// Runs `body` inside a transaction and returns its result once the transaction has committed.
    package func write<T: Sendable>(_ body: @escaping @Sendable (inout WriteContext) throws -> T) async throws -> T {
        if let result = try core.writeInlineIfIdle(body) { return result }
        return try await withCheckedThrowingContinuation { continuation in
            core.enqueue(ContinuationWriteJob(body: body, continuation: continuation))
        }
    }

    /// Per origin, the highest sequence held without a gap, as of the last commit: no database read,
    /// so callers can tell a change the store already holds before doing costly work on it.
    package var heldVector: VersionVector { core.heldVector.withLock { $0 } }

    /// Commits what is queued, then ends the thread.
    package func close() async {
        core.close()
        await thread.wait()
    }
}

/// The writer's shared state.
///
/// `@unchecked Sendable`: `connection` and `state` are used only by the current owner of the writer
/// (an inline caller or the writer thread); ownership changes hands only with `condition` locked, and
/// only one owner exists at a time. `owner`, `queue` and `closed` are guarded by `condition`.
package final class WriterCore: @unchecked Sendable {
    package enum Owner { case none, inline, thread }

    private let condition = Condition()
    private var owner = Owner.none
    private var queue: [any WriteJob] = []
    private var closed = false
    /// A commit left the WAL past ``checkpointPages``: the writer thread checkpoints next.
    private var checkpointDue = false

    /// WAL size (pages) past which the writer thread checkpoints: 8,192 pages (32 MiB) rather than
    /// SQLite's 1,000, so hot pages are copied to the database file once per checkpoint instead of
    /// many times, and checkpoint fsyncs are rare. The checkpoint runs on the writer's own thread
    /// after the commit's callers have resumed, never inside a caller's commit.
    package static let checkpointPages = 8_192

    private let connection: SQLiteConnection
    private var state: WriterState
    /// `state.vector` as of the last commit, for other threads.
    package let heldVector: Mutex<VersionVector>
    private let nodeID: NodeID
    private let wallClock: any WallClock
    private let notifier: CommitNotifier
    private let inlineWhenIdle: Bool
    private let maxBatch: Int

    package init(connection: SQLiteConnection, nodeID: NodeID, wallClock: any WallClock, state: WriterState, notifier: CommitNotifier,
         inlineWhenIdle: Bool, maxBatch: Int) {
        self.connection = connection
        self.state = state
        heldVector = Mutex(state.vector)
        self.nodeID = nodeID
        self.wallClock = wallClock
        self.notifier = notifier
        self.inlineWhenIdle = inlineWhenIdle
        self.maxBatch = maxBatch
    }

    /// Runs the job on the calling thread when the writer is idle; `nil` when it is busy (queue it).
    package func writeInlineIfIdle<T: Sendable>(_ body: @escaping @Sendable (inout WriteContext) throws -> T) throws -> T? {
        guard inlineWhenIdle else { return nil }
        condition.lock()
        guard owner == .none, queue.isEmpty, !closed else {
            condition.unlock()
            return nil
        }
        owner = .inline
        condition.unlock()
        let job = InlineWriteJob(body: body)
        let wantsCheckpoint = commit([job])
        condition.lock()
        if wantsCheckpoint { checkpointDue = true }
        // Hand queued followers or a checkpoint to the thread (waking it), or go idle (nobody needs to know).
        if queue.isEmpty && !checkpointDue {
            owner = .none
            if closed { condition.broadcast() }
        } else {
            owner = .thread
            condition.broadcast()
        }
        condition.unlock()
        return try job.result!.get()
    }

    /// Queues a job for the writer thread.
    package func enqueue(_ job: any WriteJob) {
        condition.lock()
        guard !closed else {
            condition.unlock()
            job.fail(StoreError.closed)
            return
        }
        queue.append(job)
        if owner == .none {
            owner = .thread
            condition.broadcast()
        }
        condition.unlock()
    }

    package func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// The writer thread: commits queued batches whenever it owns the writer.
    package func runThread() {
        while true {
            condition.lock()
            while !(owner == .thread && (!queue.isEmpty || checkpointDue)) {
                if owner == .thread, queue.isEmpty { owner = .none }
                if closed && owner == .none && queue.isEmpty {
                    condition.unlock()
                    return
                }
                if closed && owner == .none && !queue.isEmpty { owner = .thread; continue }
                condition.wait()
            }
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            var due = checkpointDue
            checkpointDue = false
            condition.unlock()
            if !batch.isEmpty, commit(batch) { due = true }
            // Followers that queue meanwhile wait for the next batch: suspended tasks, not blocked threads.
            if due { try? connection.checkpoint() }
        }
    }

    /// Runs `jobs` in one transaction and completes them after the commit. Returns whether the WAL
    /// has grown past ``checkpointPages``.
    private func commit(_ jobs: [any WriteJob]) -> Bool {
        defer { connection.resetUsedStatements() }
        let started = ContinuousClock.now
        do {
            try connection.run(static: "BEGIN IMMEDIATE")
        } catch {
            for job in jobs { job.fail(error) }
            return false
        }
        var context = WriteContext(connection: connection, nodeID: nodeID, wallClock: wallClock, state: state)
        var succeeded: [any WriteJob] = []
        var failed: [(any WriteJob, any Error)] = []
        var touched: Set<String> = []
        var committed: [CommittedChange] = []
        if jobs.count == 1, let job = jobs.first {
            do {
                try job.execute(&context)
                succeeded.append(job)
                touched = context.touched
                committed = context.committed
            } catch {
                connection.resetUsedStatements()
                try? connection.run(static: "ROLLBACK")
                job.fail(error)
                return false
            }
        } else {
            for job in jobs {
                let before = context.state
                let movedBefore = context.movedOrigins
                context.touched = []
                context.committed = []
                do {
                    try connection.run(static: "SAVEPOINT job")
                    try job.execute(&context)
                    try connection.run(static: "RELEASE job")
                    succeeded.append(job)
                    touched.formUnion(context.touched)
                    committed.append(contentsOf: context.committed)
                } catch {
                    connection.resetUsedStatements()
                    try? connection.run(static: "ROLLBACK TO job")
                    try? connection.run(static: "RELEASE job")
                    context.state = before
                    context.movedOrigins = movedBefore
                    failed.append((job, error))
                }
            }
        }
        connection.resetUsedStatements()
        do {
            try context.writeOrigins()
            try connection.run(static: "COMMIT")
        } catch {
            connection.resetUsedStatements()
            try? connection.run(static: "ROLLBACK")
            for job in jobs { job.fail(error) }
            return false
        }
        notifier.committed(in: ContinuousClock.now - started)
        state = context.state
        let vector = state.vector
        heldVector.withLock { $0 = vector }
        // Every commit is published, even one that only moved acknowledgements or cursors.
        notifier.publish(StoreCommit(collections: touched, changes: committed))
        for job in succeeded { job.succeed() }
        for (job, error) in failed { job.fail(error) }
        return connection.walPages >= Self.checkpointPages
    }
}
