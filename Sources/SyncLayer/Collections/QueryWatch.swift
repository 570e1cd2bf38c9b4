import SyncCore
import SyncStore
/// The results of a query now, then again whenever a commit changes them: an `AsyncSequence`.
///
/// Each iterator subscribes to commits of the query's collection before it reads the first
/// result, so no change can slip between the two. A result is emitted only when it differs from the
/// previous one. Iteration ends when the task is cancelled or the node closes.
public struct QueryWatch: AsyncSequence, Sendable {
    public typealias Element = [Document]

    let store: LocalStore
    let query: DocumentQuery

    public func makeAsyncIterator() -> Iterator {
        Iterator(subscription: Subscription(store: store, collection: query.collection), store: store, query: query)
    }

    /// Pulls results; each `next()` waits for a relevant commit.
    public struct Iterator: AsyncIteratorProtocol {
        let subscription: Subscription
        let store: LocalStore
        let query: DocumentQuery
        var last: [Document]?
        var signals: AsyncStream<Void>.AsyncIterator
        /// The query, compiled by the first read.
        var compiled: QueryCompiler.Compiled?

        init(subscription: Subscription, store: LocalStore, query: DocumentQuery) {
            self.subscription = subscription
            self.store = store
            self.query = query
            self.signals = subscription.signals.makeAsyncIterator()
        }

        public mutating func next() async throws -> [Document]? {
            if last == nil {
                let first = try await read()
                last = first
                return first
            }
            while await signals.next() != nil {
                HopTrace.mark(.watchWoke)
                try Task.checkCancellation()
                let result = try await read()
                HopTrace.mark(.watchRead)
                if result != last {
                    last = result
                    return result
                }
            }
            return nil
        }

        /// The query's result now.
        private mutating func read() async throws -> [Document] {
            let compiled: QueryCompiler.Compiled
            if let known = self.compiled {
                compiled = known
            } else {
                compiled = try await translatingErrors { [store, query] in try store.compile(query) }
                self.compiled = compiled
            }
            return try await translatingErrors { [store] in try await store.query(compiled: compiled) }
        }
    }

    /// A commit observer that lives as long as the iterator.
    final class Subscription: Sendable {
        let signals: AsyncStream<Void>
        private let store: LocalStore
        private let token: UInt64

        init(store: LocalStore, collection: String) {
            let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            self.signals = stream
            self.store = store
            self.token = store.observeCommits { event in
                switch event {
                case .committed(let commit): if commit.collections.contains(collection) { continuation.yield() }
                case .closed: continuation.finish()
                }
            }
        }

        deinit {
            store.removeObserver(token)
        }
    }
}
