import SyncCore
import Synchronization

/// A change as one commit wrote it.
package struct CommittedChange: Sendable, Hashable {
    /// The change.
    package let change: Change
    /// The server's sequence for it, when known (always, in the server's store).
    package let serverSeq: UInt64?
    /// Whether this store made it (a local write), rather than received it.
    package let isLocal: Bool
    /// Whether it changed what a reader sees.
    package let visibleChange: Bool
    /// Who submitted it, as the writer's caller said (the server tags each connection's writes); 0 if unsaid.
    package let submitter: UInt64
    /// The canonical JSON of the change's fields, when the writer made it anyway (the server's
    /// stores do, for the change's row): a frame of the change reuses it instead of encoding the
    /// fields again.
    package let canonicalFields: [UInt8]?

    package init(change: Change, serverSeq: UInt64?, isLocal: Bool, visibleChange: Bool, submitter: UInt64,
                 canonicalFields: [UInt8]? = nil) {
        self.canonicalFields = canonicalFields
        self.change = change
        self.serverSeq = serverSeq
        self.isLocal = isLocal
        self.visibleChange = visibleChange
        self.submitter = submitter
    }
}

/// What one commit wrote.
package struct StoreCommit: Sendable, Hashable {
    /// The collections written.
    package let collections: Set<String>
    /// The new changes, in the order they were applied (server sequence order in the server's store).
    package let changes: [CommittedChange]
    /// The highest server sequence this commit accounts for: its last change's, or above it when a
    /// server store that other instances share skipped their changes in collections none of its
    /// readers wants (``complete``); `nil` outside the server's store.
    package let through: UInt64?
    /// The collections this commit holds every change of up to ``through``; `nil`: all of them.
    package let complete: Set<String>?

    package init(collections: Set<String>, changes: [CommittedChange], through: UInt64? = nil, complete: Set<String>? = nil) {
        self.collections = collections
        self.changes = changes
        self.through = through ?? changes.last?.serverSeq
        self.complete = complete
    }
}

/// What an observer of the store hears.
package enum StoreEvent: Sendable, Hashable {
    /// A commit happened.
    case committed(StoreCommit)
    /// The store closed; nothing more will be heard.
    case closed
}

/// Tells observers which collections each commit touched, and when the store closes.
///
/// Observers are called in the order they registered, so a store can register its own bookkeeping
/// (such as the server's head sequence) before anyone who relies on it.
package final class CommitNotifier: Sendable {
    package init() {}

    private let observers = Mutex<[(id: UInt64, handler: @Sendable (StoreEvent) -> Void)]>([])
    private let nextID = Atomic<UInt64>(1)

    /// Registers `handler`; it is called on the writer thread after each commit, so it must be quick.
    package func observe(_ handler: @escaping @Sendable (StoreEvent) -> Void) -> UInt64 {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        observers.withLock { $0.append((id, handler)) }
        return id
    }

    /// Removes an observer.
    package func remove(_ id: UInt64) {
        observers.withLock { $0.removeAll { $0.id == id } }
    }

    private let timer = Mutex<Callback<Duration>?>(nil)

    /// Sets what hears how long each transaction took to commit (one at a time; `nil` stops it).
    package func timeCommits(_ handler: (@Sendable (Duration) -> Void)?) {
        timer.withLock { $0 = handler.map(Callback.init) }
    }

    /// A transaction committed in `duration`, from its start to the commit's return.
    package func committed(in duration: Duration) {
        timer.withLock { $0 }?(duration)
    }

    package func publish(_ commit: StoreCommit) {
        let handlers = observers.withLock { $0.map(\.handler) }
        for handler in handlers { handler(.committed(commit)) }
    }

    /// Tells every observer the store closed, and forgets them.
    package func close() {
        let handlers = observers.withLock { observers in
            defer { observers.removeAll() }
            return observers.map(\.handler)
        }
        for handler in handlers { handler(.closed) }
    }
}
