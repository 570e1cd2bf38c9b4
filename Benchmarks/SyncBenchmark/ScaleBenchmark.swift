import BenchmarkSupport
import Foundation
import NIOCore
import Synchronization
import SyncLayer
import SyncServer
import SyncTesting
import SyncCore

/// Figures at scale (issue 6, part 3), each beside a baseline measured in the same run:
///
/// 6. A `synclayer server` process holding 1,000 WebSocket connections (subscribers of the original
///    protocol): its resident memory, against the Python `websockets` broadcast server holding the
///    same 1,000; and the fan-out latency of one write (from the writer's send until all 1,000 have
///    it), against the same through the Python server.
/// 7. An idle `synclayer node` process (connected to that server, nothing to do): its resident
///    memory, against the same binary started and doing nothing (`put -` waiting on its input).
/// 8. 20 in-process nodes on one loopback "LAN", split into two halves of 10 with the server down;
///    both halves write; then the halves are joined again and the server returns. Time until every
///    node's digest equals the server's and the server holds every change once, against one node
///    pushing the same number of changes straight to the server; bytes on every link (mesh and
///    server) per change, against the changes' encoded size.
///
/// The server and the idle node run as child processes (the real `synclayer` binary, found beside
/// this one or through `SYNCLAYER_BINARY`), so their memory is their own.
enum ScaleBenchmark {
    static let collection = "bench"

    // MARK: Child processes

    /// `synclayer server` on a free loopback port; returns the child and its port.
    static func startServer(_ executable: String, data: String) async throws -> (ChildProcess, Int) {
        let child = try ChildProcess(executable: executable, arguments: ["server", "--port", "0", "--data", data, "--log-level", "warning"])
        let line = try? await withTimeout(30, "server start") { () -> String in
            for await line in child.lines where line.hasPrefix("listening on ") { return line }
            return ""
        }
        guard let line, let port = line.split(separator: ":").last.flatMap({ Int($0) }) else {
            await PythonBroadcastServer.stop(child)
            throw BenchmarkError("synclayer server did not start: \(child.standardError.suffix(500))")
        }
        return (child, port)
    }

    /// `synclayer node` syncing `bench` with the server at `port`; returns the child and its control URL.
    static func startNode(_ executable: String, data: String, serverPort: Int, mesh: Bool) async throws -> (ChildProcess, String) {
        var arguments = ["node", "--data", data, "--server", "http://127.0.0.1:\(serverPort)", "--collections", collection,
                         "--log-level", "warning"]
        if mesh { arguments += ["--mesh", "--no-discovery", "--mesh-host", "127.0.0.1", "--team", "bench"] }
        let child = try ChildProcess(executable: executable, arguments: arguments)
        let line = try? await withTimeout(30, "node start") { () -> String in
            for await line in child.lines where line.hasPrefix("control ") { return line }
            return ""
        }
        guard let line, line.hasPrefix("control ") else {
            await PythonBroadcastServer.stop(child)
            throw BenchmarkError("synclayer node did not start: \(child.standardError.suffix(500))")
        }
        return (child, String(line.dropFirst("control ".count)))
    }

    /// Asks a running node (through `synclayer status --node`) until its realtime link is connected
    /// and it holds `documents` documents; at most 30 s.
    static func waitUntilSynced(_ executable: String, control: String, documents: Int) async throws {
        let deadline = now() + 30
        var last = ""
        while now() < deadline {
            let status = try ChildProcess(executable: executable, arguments: ["status", "--node", control, "--json"])
            var output = ""
            for await line in status.lines { output += line }
            await status.waitForExit()
            last = output
            if let report = try? JSONParser().parse(Array(output.utf8)), report["link"]?.stringValue == "connected",
               report["collections"]?[collection]?["count"]?.intValue == Int64(documents) {
                return
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw BenchmarkError("the idle node did not connect and sync within 30 s: \(last.prefix(300))")
    }

    // MARK: 6. 1,000 connections

    /// Counts the change frames all subscribers received and their bytes on the wire, and signals
    /// each time the count reaches a multiple of the number of subscribers (one write delivered to
    /// all of them), noting when.
    final class Arrivals: Sendable {
        let subscribers: Int
        let total = Atomic<Int>(0)
        /// Bytes of the counted frames as sent: payload and WebSocket header (unmasked, as a server sends).
        let bytes = Atomic<Int>(0)
        private let lastMultiple = Atomic<UInt64>(0)
        let signals: AsyncStream<Void>
        private let continuation: AsyncStream<Void>.Continuation

        init(subscribers: Int) {
            self.subscribers = subscribers
            (signals, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        }

        /// One frame with a payload of `payload` bytes arrived.
        func arrived(payload: Int) {
            bytes.add(payload + (payload < 126 ? 2 : payload < 65_536 ? 4 : 10), ordering: .relaxed)
            if total.add(1, ordering: .relaxed).newValue % subscribers == 0 {
                lastMultiple.store(now().bitPattern, ordering: .releasing)
                continuation.yield()
            }
        }

        /// When the count last reached a multiple of the subscribers (monotonic seconds): when the
        /// last frame arrived, once every subscriber has every frame.
        var lastDelivery: Double { Double(bitPattern: lastMultiple.load(ordering: .acquiring)) }

        func finish() { continuation.finish() }
    }

    /// `count` subscribers of `bench` at `url`, connected `parallel` at a time.
    static func connectSubscribers(url: String, count: Int, arrivals: Arrivals, parallel: Int = 25) async throws -> [BenchSocket] {
        var sockets: [BenchSocket] = []
        for start in stride(from: 0, to: count, by: parallel) {
            try await withThrowingTaskGroup(of: BenchSocket.self) { group in
                for _ in start..<min(count, start + parallel) {
                    group.addTask { try await subscribe(url: url, arrivals: arrivals) }
                }
                for try await socket in group { sockets.append(socket) }
            }
        }
        return sockets
    }

    /// One subscriber: connects, subscribes, and from its `subscribed` on counts every frame into `arrivals`.
    static func subscribe(url: String, arrivals: Arrivals) async throws -> BenchSocket {
        let (subscribed, subscribedContinuation) = AsyncStream.makeStream(of: Void.self)
        let ready = SharedCounter(0)  // 1 once `subscribed` arrived
        let socket = try await BenchSocket.connect(url) { data in
            if ready.value.load(ordering: .relaxed) == 1 {
                arrivals.arrived(payload: data.readableBytes)
            } else if String(buffer: data).contains("subscribed") {
                ready.value.store(1, ordering: .relaxed)
                subscribedContinuation.yield()
                subscribedContinuation.finish()
            }
        }
        try await socket.send(#"{"type":"subscribe","collection":"\#(collection)"}"#)
        let ok = try await withTimeout(30, "subscribed") {
            for await _ in subscribed { return true }
            return false
        }
        guard ok else { throw BenchmarkError("no subscribed frame from \(url)") }
        return socket
    }

    struct ConnectionFigures {
        /// Resident memory before the connections, with them, and the peak (all bytes).
        var idle: Int
        var connected: Int
        var peak: Int
        /// Of `connected`: anonymous memory (the rest is mapped files: the executable and its libraries).
        var anonymous: Int
        /// Seconds from one write's send until every subscriber had it.
        var latencies: [Double]
        var connectSeconds: Double
    }

    /// Connects `subscribers` to the server process `pid` at `url`, reads its memory, then sends
    /// `warmUp + samples` inserts one at a time, each when the last reached every subscriber.
    static func connections(url: String, pid: pid_t, subscribers: Int, warmUp: Int, samples: Int, tag: String, text: String) async throws
        -> ConnectionFigures
    {
        guard let idle = ProcessMemory.read(pid) else { throw BenchmarkError("process \(pid) is gone") }
        let arrivals = Arrivals(subscribers: subscribers)
        let connectStart = now()
        let sockets = try await connectSubscribers(url: url, count: subscribers, arrivals: arrivals)
        let connectSeconds = now() - connectStart
        let result: Result<ConnectionFigures, any Error>
        do {
            // Let the connections settle (their tasks started, buffers allocated) before reading.
            try await Task.sleep(for: .seconds(1))
            guard let connected = ProcessMemory.read(pid) else { throw BenchmarkError("process \(pid) is gone") }
            let latencies = try await timedWrites(url: url, arrivals: arrivals, warmUp: warmUp, samples: samples, tag: tag, text: text)
            guard let after = ProcessMemory.read(pid) else { throw BenchmarkError("process \(pid) is gone") }
            let most = connected.resident >= after.resident ? connected : after
            result = .success(ConnectionFigures(idle: idle.resident, connected: most.resident, peak: after.peak, anonymous: most.anonymous,
                                                latencies: latencies, connectSeconds: connectSeconds))
        } catch {
            result = .failure(error)
        }
        await close(sockets, arrivals)
        return try result.get()
    }

    /// Ends the count of `arrivals` and closes the subscribers' `sockets`.
    static func close(_ sockets: [BenchSocket], _ arrivals: Arrivals) async {
        arrivals.finish()
        await withTaskGroup(of: Void.self) { group in
            for socket in sockets { group.addTask { await socket.close() } }
        }
    }

    /// An insert of the original protocol (no signature: the server stamps and signs it), the same
    /// JSON to every server.
    static func insert(tag: String, index: Int, text: String) -> String {
        #"{"type":"insert","collection":"\#(collection)","recordId":"\#(tag)-\#(index)","data":{"n":\#(index),"text":"\#(text)"},"timestamp":"2026-01-01T00:00:00.000Z"}"#
    }

    /// Sends `warmUp + samples` inserts of the original protocol to `url`, one at a time, each when
    /// the last reached every subscriber counted by `arrivals`; the seconds each of the last
    /// `samples` took from its send until the last subscriber had it. Every subscriber must have
    /// received each write once (`arrivals` counts from 0 here).
    static func timedWrites(url: String, arrivals: Arrivals, warmUp: Int, samples: Int, tag: String, text: String) async throws -> [Double] {
        let subscribers = arrivals.subscribers
        let writer = try await BenchSocket.connect(url) { _ in }
        let latencies = try await withTimeout(300, "fan-out to \(subscribers)") { () -> [Double] in
            var signals = arrivals.signals.makeAsyncIterator()
            var latencies: [Double] = []
            for index in 0..<(warmUp + samples) {
                let payload = insert(tag: tag, index: index, text: text)
                let start = now()
                try await writer.send(payload)
                while arrivals.total.load(ordering: .relaxed) < subscribers * (index + 1) {
                    guard await signals.next() != nil else { throw BenchmarkError("arrivals ended") }
                }
                if index >= warmUp { latencies.append(now() - start) }
            }
            return latencies
        }
        await writer.close()
        let total = arrivals.total.load(ordering: .relaxed)
        guard total == subscribers * (warmUp + samples) else {
            throw BenchmarkError("\(total) frames arrived, expected \(subscribers * (warmUp + samples)) (a frame too many or missing)")
        }
        return latencies
    }

    // MARK: 7. An idle node

    struct IdleNode {
        var resident: Int
        var peak: Int
        /// Of `resident`: anonymous memory, and pages of mapped files (executable, libraries).
        var anonymous: Int
        var file: Int
    }

    /// Runs a node process against the server at `serverPort` until it is connected and holds the
    /// server's `documents`, lets it idle for `idle` seconds, and reads its memory (the largest
    /// `VmRSS` seen while idle, and `VmHWM`).
    static func idleNode(_ executable: String, data: String, serverPort: Int, documents: Int, mesh: Bool, idle: Double) async throws -> IdleNode {
        let (child, control) = try await startNode(executable, data: data, serverPort: serverPort, mesh: mesh)
        let result: Result<IdleNode, any Error>
        do {
            try await waitUntilSynced(executable, control: control, documents: documents)
            var most = ProcessMemory.Reading(resident: 0, peak: 0, anonymous: 0, file: 0)
            let end = now() + idle
            while now() < end {
                try await Task.sleep(for: .milliseconds(500))
                guard let reading = ProcessMemory.read(child.pid) else { throw BenchmarkError("the node process died: \(child.standardError.suffix(300))") }
                if reading.resident >= most.resident { most = reading }
                most.peak = reading.peak
            }
            result = .success(IdleNode(resident: most.resident, peak: most.peak, anonymous: most.anonymous, file: most.file))
        } catch {
            result = .failure(error)
        }
        await PythonBroadcastServer.stop(child)
        return try result.get()
    }
}

extension ScaleBenchmark {
    /// Parts 6 to 8, into `report`.
    static func run(report: inout Report, directory: TemporaryDirectory, quick: Bool, text: String) async throws {
        let files = ProcessMemory.raiseFileLimit()
        let subscribers = quick ? 250 : 1_000
        guard files > subscribers * 2 + 200 else {
            throw BenchmarkError("the open-file limit is \(files); \(subscribers) connections need about \(subscribers * 2 + 200) (ulimit -n)")
        }
        let warmUp = quick ? 10 : 20, samples = quick ? 50 : 200
        let executable = try synclayerExecutable()

        // 6. The server process with `subscribers` connections, against the Python broadcast server.
        let (server, serverPort) = try await startServer(executable, data: directory.file("scale-server.sqlite"))
        let ours: ConnectionFigures
        do {
            ours = try await connections(url: "ws://127.0.0.1:\(serverPort)/ws", pid: server.pid, subscribers: subscribers,
                                         warmUp: warmUp, samples: samples, tag: "s", text: text)
        } catch {
            await PythonBroadcastServer.stop(server)
            throw error
        }
        var python: ConnectionFigures?
        var pythonProblem = ""
        do {
            let baseline = try await PythonBroadcastServer.start()
            do {
                python = try await connections(url: "ws://127.0.0.1:\(baseline.port)/", pid: baseline.child.pid, subscribers: subscribers,
                                               warmUp: warmUp, samples: samples, tag: "p", text: text)
            } catch {
                pythonProblem = "\(error)"
            }
            await baseline.stop()
        } catch {
            pythonProblem = "\(error)"
        }
        let name = "server process with \(subscribers) WebSocket connections (subscribers of the original protocol)"
        let rssTarget = 300_000_000
        if let python {
            report.note("\(name): resident memory", figures: String(
                format: "%@ (%@ anonymous; %@ before connecting, peak %@) vs %@ for the Python websockets broadcast server with the same connections "
                    + "(%@ before): ratio %.2f; per connection %.0f kB vs %.0f kB",
                ProcessMemory.megabytes(ours.connected), ProcessMemory.megabytes(ours.anonymous), ProcessMemory.megabytes(ours.idle),
                ProcessMemory.megabytes(ours.peak), ProcessMemory.megabytes(python.connected), ProcessMemory.megabytes(python.idle),
                Double(ours.connected) / Double(python.connected),
                Double(ours.connected - ours.idle) / Double(subscribers) / 1e3, Double(python.connected - python.idle) / Double(subscribers) / 1e3),
                        verdict: ours.peak < rssTarget ? "meets target < 300 MB" : "BELOW target < 300 MB")
            for (label, fraction) in [("p50", 0.5), ("p99", 0.99)] {
                let mine = percentile(ours.latencies, fraction), theirs = percentile(python.latencies, fraction)
                report.note("  fan-out of one write to all \(subscribers), \(label) (\(samples) writes, one at a time)",
                            figures: String(format: "%.2f ms vs %.2f ms through the Python server: ratio %.2f", mine * 1e3, theirs * 1e3, mine / theirs),
                            verdict: "")
            }
        } else {
            report.note("\(name): resident memory", figures: String(format: "%@ (peak %@); fan-out p99 %.2f ms; no baseline",
                                                                    ProcessMemory.megabytes(ours.connected), ProcessMemory.megabytes(ours.peak),
                                                                    percentile(ours.latencies, 0.99) * 1e3),
                        verdict: "NOT MEASURED against Python: \(pythonProblem)")
        }
        report.note("  connecting the \(subscribers) subscribers", figures: String(format: "%.1f s to ours, %.1f s to Python", ours.connectSeconds,
                                                                               python?.connectSeconds ?? .nan), verdict: "")

        // 7. Idle node processes against that server, which now holds the fan-out's documents.
        let documents = warmUp + samples
        let idleSeconds = quick ? 2.0 : 5.0
        let plainPath = directory.file("idle-node.sqlite"), meshPath = directory.file("idle-mesh-node.sqlite")
        let plain: IdleNode, meshed: IdleNode
        do {
            plain = try await idleNode(executable, data: plainPath, serverPort: serverPort, documents: documents, mesh: false, idle: idleSeconds)
            meshed = try await idleNode(executable, data: meshPath, serverPort: serverPort, documents: documents, mesh: true, idle: idleSeconds)
        } catch {
            await PythonBroadcastServer.stop(server)
            throw error
        }
        await PythonBroadcastServer.stop(server)
        // The same binary started and doing nothing: `put` waiting for its document on standard input
        // (before it opens any database).
        let waiting = try await ProcessMemory.readWhileWaiting(executable, ["put", "--data", directory.file("unused.sqlite"), collection, "-"])
        let nodeTarget = 30_000_000
        for (label, figures) in [("idle node process (realtime link to the server, \(documents) documents)", plain),
                                 ("idle node process with the mesh on (static peers only, none linked)", meshed)] {
            report.note(label, figures: String(
                format: "%@ resident (%@ anonymous, %@ mapped files; peak %@) vs %@ for the same binary started and doing nothing "
                    + "(`put -` waiting on its input; %@ anonymous, %@ mapped files): ratio %.2f",
                ProcessMemory.megabytes(figures.resident), ProcessMemory.megabytes(figures.anonymous), ProcessMemory.megabytes(figures.file),
                ProcessMemory.megabytes(figures.peak), ProcessMemory.megabytes(waiting.resident), ProcessMemory.megabytes(waiting.anonymous),
                ProcessMemory.megabytes(waiting.file), Double(figures.resident) / Double(waiting.resident)),
                        verdict: figures.resident < nodeTarget ? "meets target < 30 MB" : "BELOW target < 30 MB")
        }

        // 8. 20 nodes, partitioned in two halves with the server down, then healed.
        let perNode = quick ? 50 : 200
        let healed = try await PartitionBenchmark.run(directory: directory, nodes: 20, perNode: perNode, text: text)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let direct = try await MeshBenchmark.reconciliation(directory: directory, name: "scale-direct", nodes: 1, perNode: 20 * perNode, text: text)
        report.note("20 nodes (two halves of 10, server down, \(perNode) writes each) healed: until every digest equals the server's",
                    figures: String(format: "%.2f s (the server held every change after %.2f s; the halves' links back after %.2f s; %.1f s of CPU meanwhile, %.0f%% of the %d cores) "
                                        + "vs %.2f s for one node pushing the same %d changes straight to the server: ratio %.1f",
                                    healed.seconds, healed.serverHeld, healed.linksBack, healed.cpuSeconds,
                                    100 * healed.cpuSeconds / (Double(cores) * healed.seconds), cores, direct.seconds, healed.changes, healed.seconds / direct.seconds),
                    verdict: "")
        let perChange = Double(healed.encodedBytes) / Double(healed.changes)
        let bytes = healed.serverBytes + healed.meshBytes
        let minimum = Double(healed.encodedBytes) * Double(1 + 20 / 2)
        report.note("  bytes per change while healing, every link (mesh and server)",
                    figures: String(format: "%.0f B per change (%.1f MB to/from the server, %.1f MB on the mesh) vs %.0f B encoded: ratio %.1f; "
                                        + "each change must reach the server and the 10 nodes of the other half, at least %.0f B: ratio %.2f",
                                    Double(bytes) / Double(healed.changes), Double(healed.serverBytes) / 1e6, Double(healed.meshBytes) / 1e6,
                                    perChange, Double(bytes) / Double(healed.encodedBytes), minimum / Double(healed.changes),
                                    Double(bytes) / minimum),
                    verdict: "")
        report.note("  copies of changes relayed between nodes while healing", figures: String(
            format: "%d sent to peers, %d of them already held by the receiver (%.1f and %.1f per change)", healed.relayed, healed.duplicates,
            Double(healed.relayed) / Double(healed.changes), Double(healed.duplicates) / Double(healed.changes)), verdict: "")
    }
}
