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
            let pool = try Self.pool(in: directory)
            // Two reads that hold both connections until released: their threads are the pool's.
            let gate = DispatchSemaphore(value: 0)
            let (readerThreads, holders) = await Self.holdBothConnections(of: pool, until: gate)
            // No connection is idle: this one is queued and runs on a reader thread once one is free.
            let queued = Task { try await pool.readInlineIfIdle { connection in (Self.threadID(), try connection.scalarInt("SELECT x FROM t")) } }
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
                (Self.threadID(), try connection.scalarInt("SELECT x FROM t"))
            }
            #expect(!readerThreads.contains(inlineThread))
            #expect(inlineValue == 7)
            await pool.close()
            await #expect(throws: StoreError.self) { try await pool.readInlineIfIdle { _ in 0 } }
        }
    }

    /// A read on its caller's thread wakes neither reader thread when it gives its connection back:
    /// nothing waits for it. Counted in the threads' voluntary context switches (Linux): each
    /// wake-up for nothing was one more on each thread.
    @Test func aReadOnItsCallersThreadWakesNoReaderThread() async throws {
        try await withTemporaryDirectory(prefix: "readers") { directory in
            let pool = try Self.pool(in: directory)
            // The reader threads' ids: two reads held at once run on both.
            let gate = DispatchSemaphore(value: 0)
            let (threads, holders) = await Self.holdBothConnections(of: pool, until: gate)
            gate.signal()
            gate.signal()
            for holder in holders { #expect(try await holder.value == 7) }
            func switches() throws -> Int {
                try threads.reduce(0) { total, thread in
                    let status = try String(contentsOfFile: "/proc/self/task/\(thread)/status", encoding: .utf8)
                    let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") })
                    return total + (try #require(Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces))))
                }
            }
            let before = try switches()
            for _ in 0..<200 {
                #expect(try await pool.readInlineIfIdle { try $0.scalarInt("SELECT x FROM t") } == 7)
            }
            let woken = try switches() - before
            // Both threads go back to sleep after the holders' reads: a few switches, not 400.
            #expect(woken < 20, "the reader threads switched \(woken) times during 200 reads on the caller's thread")
            #expect(pool.queuedReads == 0)
            await pool.close()
        }
    }

    /// A pool of two read connections to a database whose table `t` holds one row, 7.
    static func pool(in directory: TemporaryDirectory) throws -> ReaderPool {
        let path = directory.file("pool.sqlite")
        let writer = try SQLiteConnection(path: path)
        try writer.run("CREATE TABLE t(x INTEGER)")
        try writer.run("INSERT INTO t VALUES (7)")
        return ReaderPool(connections: [try SQLiteConnection(path: path, readOnly: true),
                                        try SQLiteConnection(path: path, readOnly: true)], name: "test")
    }

    /// Starts two reads that hold both of `pool`'s connections until `gate` is signalled once for
    /// each; returns the kernel ids of the two threads that run them (the pool's), and the reads.
    static func holdBothConnections(of pool: ReaderPool, until gate: DispatchSemaphore) async -> (threads: Set<Int32>, holders: [Task<Int64?, any Error>]) {
        let (started, running) = AsyncStream.makeStream(of: Int32.self)
        let holders = (0..<2).map { _ in
            Task {
                try await pool.read { connection in
                    running.yield(threadID())
                    gate.wait()
                    return try connection.scalarInt("SELECT x FROM t")
                }
            }
        }
        var threads: Set<Int32> = []
        for await thread in started {
            threads.insert(thread)
            if threads.count == 2 { break }
        }
        return (threads, holders)
    }

    /// The calling thread's id in the kernel (`/proc/thread-self` names it `PID/task/TID`).
    static func threadID() -> Int32 {
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBufferPointer { readlink("/proc/thread-self", $0.baseAddress!, 63) }
        let path = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
        return Int32(path.split(separator: "/").last ?? "") ?? -1
    }
}
