import Dispatch
import SyncStore
import SyncTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ReaderPoolTests {
    /// A small read runs on its caller's thread while a connection is idle, and waits for a reader
    /// thread (behind the reads queued before it) while none is.
    @Test func aSmallReadRunsOnItsCallersThreadOnlyWhileAConnectionIsIdle() async throws {
        try await withTemporaryDirectory(prefix: "readers") { directory in
            let path = directory.file("pool.sqlite")
            let writer = try SQLiteConnection(path: path)
            try writer.run("CREATE TABLE t(x INTEGER)")
            try writer.run("INSERT INTO t VALUES (7)")
            let pool = ReaderPool(connections: [try SQLiteConnection(path: path, readOnly: true),
                                                try SQLiteConnection(path: path, readOnly: true)], name: "test")
            // Two reads that hold both connections until released: their threads are the pool's.
            let (started, running) = AsyncStream.makeStream(of: UInt.self)
            let gate = DispatchSemaphore(value: 0)
            let holders = (0..<2).map { _ in
                Task {
                    try await pool.read { connection in
                        running.yield(UInt(pthread_self()))
                        gate.wait()
                        return try connection.scalarInt("SELECT x FROM t")
                    }
                }
            }
            var readerThreads: Set<UInt> = []
            for await thread in started {
                readerThreads.insert(thread)
                if readerThreads.count == 2 { break }
            }
            // No connection is idle: this one is queued and runs on a reader thread once one is free.
            let queued = Task { try await pool.readInlineIfIdle { connection in (UInt(pthread_self()), try connection.scalarInt("SELECT x FROM t")) } }
            let deadline = ContinuousClock.now + .seconds(30)
            while pool.queuedReads == 0 {
                try #require(ContinuousClock.now < deadline, "the read was never queued")
                try await Task.sleep(for: .milliseconds(1))
            }
            gate.signal()
            gate.signal()
            for holder in holders { #expect(try await holder.value == 7) }
            let (queuedThread, queuedValue) = try await queued.value
            #expect(readerThreads.contains(queuedThread))
            #expect(queuedValue == 7)
            // Both idle now: on the calling thread, which is none of the pool's.
            let (inlineThread, inlineValue) = try await pool.readInlineIfIdle { connection in
                (UInt(pthread_self()), try connection.scalarInt("SELECT x FROM t"))
            }
            #expect(!readerThreads.contains(inlineThread))
            #expect(inlineValue == 7)
            await pool.close()
            await #expect(throws: StoreError.self) { try await pool.readInlineIfIdle { _ in 0 } }
        }
    }
}
