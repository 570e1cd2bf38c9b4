import Synchronization

/// What a connection's reader hands on, handled in order by one task at a time, every item waiting
/// at once in one call, so that frames which arrive together are committed together.
///
/// The task exists only while there is something to handle: an idle connection holds none. Each
/// item weighs what `weight` says (a batch of changes, its count); the reader stops reading while
/// items of `limit` in all wait (``offer(_:resume:)`` says so, and calls it back once the task has
/// taken them), so a client that sends faster than the store commits is slowed down by TCP instead
/// of queueing without bound.
final class InboundQueue<Item: Sendable>: Sendable {
    private let state = Mutex(State())
    private let limit: Int
    private let weight: @Sendable (Item) -> Int
    /// Where the handling task prefers to run (the connection's event loop), if anywhere: it
    /// starts there at once, and handles there what weighs up to ``inlineWeight``. Heavier work
    /// (a batch of changes to verify and commit) runs on Swift's pool, so that the loop keeps
    /// reading and writing its other connections meanwhile.
    private let executor: (any TaskExecutor)?
    /// The most that is handled on ``executor`` (a few changes: the interactive write).
    static var inlineWeight: Int { 16 }

    private struct State: Sendable {
        var items: [Item] = []
        var weight = 0
        var running = false
        var reader: (@Sendable () -> Void)?
        var task: Task<Void, Never>?
        var handle: (@Sendable ([Item]) async -> Void)?
    }

    init(limit: Int, executor: (any TaskExecutor)? = nil, weight: @escaping @Sendable (Item) -> Int = { _ in 1 }) {
        self.limit = limit
        self.executor = executor
        self.weight = weight
    }

    /// Sets what handles the items (its owner, usually); `nil` lets go of it, once drained.
    func setHandler(_ handle: (@Sendable ([Item]) async -> Void)?) {
        state.withLock { $0.handle = handle }
    }

    /// Queues `item` and starts the handling task if none runs, without waiting. Returns `false`
    /// when items of `limit` or more now wait: the caller stops reading, and `resume` is called
    /// (once, from the handling task) when the task has taken them.
    func offer(_ item: Item, resume: @escaping @Sendable () -> Void) -> Bool {
        let itemWeight = max(1, weight(item))
        let (start, full) = state.withLock { state -> (Bool, Bool) in
            state.items.append(item)
            state.weight += itemWeight
            let start = !state.running
            state.running = true
            let full = state.weight >= limit
            if full { state.reader = resume }
            return (start, full)
        }
        if start {
            let task = Task(executorPreference: executor) { await self.run() }
            state.withLock { $0.task = task }
        }
        return !full
    }

    /// Waits until everything submitted so far is handled.
    func drained() async {
        while let task = state.withLock({ $0.running ? $0.task : nil }) {
            await task.value
        }
    }

    private func run() async {
        while true {
            let (items, weight, reader, handle) = state.withLock { state in
                let taken = (state.items, state.weight, state.reader, state.handle)
                state.items = []
                state.weight = 0
                state.reader = nil
                if taken.0.isEmpty { state.running = false }
                return taken
            }
            reader?()
            if items.isEmpty { return }
            guard let handle else { continue }
            if executor != nil, weight > Self.inlineWeight {
                await withTaskExecutorPreference(globalConcurrentExecutor) { await handle(items) }
            } else {
                await handle(items)
            }
        }
    }
}
