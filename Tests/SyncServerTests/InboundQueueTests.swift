import Dispatch
import Synchronization
@testable import SyncServer
import Testing

/// The queue between a connection's reader and its handling: what waits is handled in one call, in
/// order, by one task at a time, and the reader is held back at the limit.
@Suite struct InboundQueueTests {
    /// A handler that records each call's items and, while `hold` is set, waits on the first call.
    final class Recorder: Sendable {
        let calls = Mutex<[[Int]]>([])
        let entered: AsyncStream<Void>
        let enteredContinuation: AsyncStream<Void>.Continuation
        let release: AsyncStream<Void>
        let releaseContinuation: AsyncStream<Void>.Continuation

        init() {
            (entered, enteredContinuation) = AsyncStream.makeStream()
            (release, releaseContinuation) = AsyncStream.makeStream()
        }

        func handle(_ items: [Int]) async {
            let first = calls.withLock { calls in
                calls.append(items)
                return calls.count == 1
            }
            if first {
                enteredContinuation.yield()
                for await _ in release { break }
            }
        }
    }

    /// Submits `item` from another task and expects it not to return while the handler is held.
    static func expectHeldBack(submitting item: Int, to queue: InboundQueue<Int>, _ comment: Comment) async -> Task<Void, Never> {
        let submitted = Atomic<Bool>(false)
        let reader = Task {
            await queue.submit(item)
            submitted.store(true, ordering: .sequentiallyConsistent)
        }
        for _ in 0..<100 { await Task.yield() }
        let passed = submitted.load(ordering: .sequentiallyConsistent)
        #expect(!passed, comment)
        return reader
    }

    @Test func whatWaitsWhileOneBatchIsHandledIsHandledInOneCallInOrder() async {
        let queue = InboundQueue<Int>(limit: 1_000)
        let recorder = Recorder()
        queue.setHandler { await recorder.handle($0) }
        await queue.submit(0)
        for await _ in recorder.entered { break }
        for item in 1...50 { await queue.submit(item) }
        recorder.releaseContinuation.yield()
        await queue.drained()
        #expect(recorder.calls.withLock { $0 } == [[0], Array(1...50)])
    }

    @Test func theReaderWaitsAtTheLimitUntilTheHandlerTakesWhatWaits() async {
        let queue = InboundQueue<Int>(limit: 3)
        let recorder = Recorder()
        queue.setHandler { await recorder.handle($0) }
        await queue.submit(0)
        for await _ in recorder.entered { break }
        await queue.submit(1)
        await queue.submit(2)
        // The handler is held: the fourth item cannot be queued past the limit of three.
        let reader = await Self.expectHeldBack(submitting: 3, to: queue, "the reader waits while three items wait")
        recorder.releaseContinuation.yield()
        await reader.value
        await queue.drained()
        #expect(recorder.calls.withLock { $0 } == [[0], [1, 2, 3]])
    }

    @Test func theLimitCountsWhatItemsWeigh() async {
        let queue = InboundQueue<Int>(limit: 10) { $0 }
        let recorder = Recorder()
        queue.setHandler { await recorder.handle($0) }
        await queue.submit(1)
        for await _ in recorder.entered { break }
        await queue.submit(4)
        let reader = await Self.expectHeldBack(submitting: 6, to: queue, "two items weighing 10 fill a queue of 10")
        recorder.releaseContinuation.yield()
        await reader.value
        await queue.drained()
        #expect(recorder.calls.withLock { $0 } == [[1], [4, 6]])
    }

    @Test func anOfferAtTheLimitSaysStopAndResumesOnceTheHandlerTakesWhatWaits() async {
        let queue = InboundQueue<Int>(limit: 2)
        let recorder = Recorder()
        queue.setHandler { await recorder.handle($0) }
        let (resumed, resume) = AsyncStream<Void>.makeStream()
        #expect(queue.offer(0) { resume.yield() })
        for await _ in recorder.entered { break }
        #expect(queue.offer(1) { resume.yield() }, "one item waits: room for more")
        #expect(!queue.offer(2) { resume.yield() }, "two wait: the reader stops")
        recorder.releaseContinuation.yield()
        for await _ in resumed { break }
        await queue.drained()
        #expect(recorder.calls.withLock { $0 } == [[0], [1, 2]])
    }

    /// An executor on a serial dispatch queue that can tell whether the caller runs on it (a
    /// stand-in for a connection's event loop).
    final class QueueExecutor: TaskExecutor, @unchecked Sendable {
        let queue = DispatchQueue(label: "inbound-queue-tests.executor")
        private let key = DispatchSpecificKey<Bool>()

        init() {
            queue.setSpecific(key: key, value: true)
        }

        func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        }

        var isCurrent: Bool { DispatchQueue.getSpecific(key: key) == true }
    }

    /// The handling task prefers the executor it is given (the connection's event loop, which is
    /// awake): a take of a few items is handled there; a heavier one on Swift's pool, so that the
    /// loop goes on serving its other connections.
    @Test func aFewItemsAreHandledOnTheGivenExecutorAndABatchOnSwiftsPool() async {
        let executor = QueueExecutor()
        let queue = InboundQueue<Int>(limit: 1_000, executor: executor) { $0 }
        let calls = Mutex<[(weight: Int, onExecutor: Bool)]>([])
        queue.setHandler { items in
            let onExecutor = executor.isCurrent
            calls.withLock { $0.append((items.reduce(0, +), onExecutor)) }
        }
        await queue.submit(1)
        await queue.drained()
        await queue.submit(InboundQueue<Int>.inlineWeight + 1)
        await queue.drained()
        let seen = calls.withLock { $0 }
        #expect(seen.map(\.weight) == [1, InboundQueue<Int>.inlineWeight + 1])
        #expect(seen.map(\.onExecutor) == [true, false], "one item on the given executor, a batch off it")
    }
}

extension InboundQueue {
    /// A reader that waits instead of pausing: queues `item` (`offer`) and returns once fewer than
    /// the limit wait.
    func submit(_ item: Item) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if offer(item, resume: { continuation.resume() }) { continuation.resume() }
        }
    }
}
