/// Read-only connections, each on its own thread, sharing one queue of read jobs.
///
/// SQLite calls block; running them here keeps them off Swift's cooperative thread pool.
package final class ReaderPool: Sendable {
    private let queue = JobQueue<@Sendable (SQLiteConnection) -> Void>()
    private let threads: [ThreadCompletion]

    /// Starts one thread per connection; the pool owns the connections from now on.
    package init(connections: [SQLiteConnection], name: String) {
        let queue = self.queue
        threads = connections.enumerated().map { index, connection in
            let box = ConnectionBox(connection)
            return startDatabaseThread(name: "\(name).reader.\(index)") {
                let connection = box.take()
                while let jobs = queue.pop(upTo: 1) {
                    for job in jobs { job(connection) }
                }
            }
        }
    }

    /// Runs `body` on a reader thread.
    package func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let queued = queue.push { connection in
                let result = Result { try body(connection) }
                connection.resetUsedStatements()
                continuation.resume(with: result)
            }
            if !queued { continuation.resume(throwing: StoreError.closed) }
        }
    }

    /// Finishes queued reads, then ends the threads and closes the connections.
    package func close() async {
        queue.close()
        for thread in threads { await thread.wait() }
    }
}

/// Hands a connection to the thread that will own it.
///
/// `@unchecked Sendable`: the connection is created on one thread and then used only by the thread
/// that takes it; it is never used by two threads at once.
package final class ConnectionBox: @unchecked Sendable {
    private var connection: SQLiteConnection?

    package init(_ connection: SQLiteConnection) {
        self.connection = connection
    }

    package func take() -> SQLiteConnection {
        defer { connection = nil }
        return connection!
    }
}
