import Synchronization

/// What an observer of the store hears.
public enum StoreEvent: Sendable, Hashable {
    /// A commit wrote to these collections.
    case committed(Set<String>)
    /// The store closed; nothing more will be heard.
    case closed
}

/// Tells observers which collections each commit touched, and when the store closes.
final class CommitNotifier: Sendable {
    private let observers = Mutex<[UInt64: @Sendable (StoreEvent) -> Void]>([:])
    private let nextID = Atomic<UInt64>(1)

    /// Registers `handler`; it is called on the writer thread after each commit, so it must be quick.
    func observe(_ handler: @escaping @Sendable (StoreEvent) -> Void) -> UInt64 {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        observers.withLock { $0[id] = handler }
        return id
    }

    /// Removes an observer.
    func remove(_ id: UInt64) {
        _ = observers.withLock { $0.removeValue(forKey: id) }
    }

    func publish(_ collections: Set<String>) {
        let handlers = observers.withLock { Array($0.values) }
        for handler in handlers { handler(.committed(collections)) }
    }

    /// Tells every observer the store closed, and forgets them.
    func close() {
        let handlers = observers.withLock { observers in
            defer { observers.removeAll() }
            return Array(observers.values)
        }
        for handler in handlers { handler(.closed) }
    }
}
