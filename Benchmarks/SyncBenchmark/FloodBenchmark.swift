import AsyncHTTPClient
import BenchmarkSupport
import Foundation
import NIOCore
import Synchronization
import SyncLayer
import SyncTesting
import SyncCore
import SyncStore

/// 9. A `synclayer server` process (default limits) under a flood from hostile and greedy clients,
/// for a fixed time, its memory sampled twice a second; the baseline is the same process idle
/// before the flood. The clients, all at once:
/// - writers: each sends valid, signed batches of 100 changes as fast as the socket takes them,
///   never waiting for an ack (subscribed to another collection, so they receive only acks);
/// - ping flooders: each sends pings as fast as it can, far over the per-connection rate;
/// - subscribers that never read: subscribed to the flooded collection, their sockets stop reading
///   at once, so the server's queue for each fills;
/// - two subscribers that read everything.
/// Afterwards: the process is up and answers `/health`; every change a writer saw acknowledged is
/// in the server's version vector; the server's own counters (rate limited, slow connections
/// dropped) say what it refused.
enum FloodBenchmark {
    static let collection = "flood"

    /// A writer with its own origin: the signed batches it sends, and what it saw acknowledged.
    /// (The cluster benchmark's writers too.)
    final class Writer: Sendable {
        let signer: ChangeSigner
        /// This writer's half of its connection's frame key, offered in ``hello(collections:)``.
        private let exchange: FrameKeyExchange
        /// The key, once the server's `hello` has answered the offer: the writer's frames are then
        /// sealed with it, as a node's are (`Docs/Security.md`, "Frame keys").
        private let key = Mutex<FrameKey?>(nil)
        let acked = Atomic<Int>(0)
        let highestAcked = Atomic<UInt64>(0)
        let refused = Atomic<Int>(0)
        let sent = Atomic<Int>(0)
        let codec = FrameCodec(maxFrameBytes: 8 << 20, maxDepth: 32, maxBatchCount: 10_000)
        /// One element per acknowledgement (the newest 64 kept), for a sender that waits for room in a window.
        let acks: AsyncStream<Void>
        private let continuation: AsyncStream<Void>.Continuation

        init() {
            signer = ChangeSigner()
            exchange = FrameKeyExchange(signer: signer)
            (acks, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(64))
        }

        /// The `hello` a node sends, with its frame key's offer.
        func hello(collections: [String]) -> Frame {
            .hello(Hello(nodeID: signer.nodeID, vector: VersionVector(), collections: collections, frameKey: exchange.offer))
        }

        /// Whether the server answered the offer within `timeout` (its `hello` read by ``received(_:)``).
        func keyed(within timeout: Duration) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while key.withLock({ $0 }) == nil {
                guard ContinuousClock.now < deadline else { return false }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return true
        }

        func received(_ buffer: ByteBuffer) {
            let frame = try? codec.decode(buffer.readableBytesView)
            if case .hello(let hello)? = frame, let answer = hello.frameKey {
                key.withLock { $0 = exchange.key(answer: answer) }
                return
            }
            guard case .ack(let ack)? = frame else { return }
            acked.add(ack.committed.count, ordering: .relaxed)
            refused.add(ack.rejected.count, ordering: .relaxed)
            if let top = ack.committed.keys.map(\.seq).max() { highestAcked.max(top, ordering: .relaxed) }
            continuation.yield()
        }

        func finish() { continuation.finish() }

        /// `batch` as a node sends it: a `changes` frame sealed with the connection's frame key, or,
        /// without one, with one signature over its changes.
        func message(_ batch: [Change]) -> String {
            let messages = batch.map { ChangeMessage($0) }
            guard let key = key.withLock({ $0 }) else {
                return codec.encodeString(.changes(ChangeBatch(changes: messages, signature: signer.frameSignature(for: batch))))
            }
            return String(decoding: key.sealedFrame(messages, codec: codec), as: UTF8.self)
        }

        /// Batch `number` (from 0) of `size` signed changes of `collection`, numbered on from the
        /// last batch: inserts, and from the 5,000th change on, updates of earlier records.
        func batch(_ number: Int, size: Int, collection: String, text: String, wall: UInt64) -> [Change] {
            (0..<size).map { index in
                let seq = UInt64(number * size + index + 1)
                let change = Change(id: ChangeID(origin: signer.nodeID, seq: seq), hlc: HLCTimestamp(wallMillis: wall, counter: UInt16(truncatingIfNeeded: seq)),
                                    collection: collection, recordID: "r\(seq % 5_000)", kind: .insert,
                                    fields: ["text": .string(text), "n": .int(Int64(seq))])
                return signer.signingOwn(change)
            }
        }
    }

    struct Figures {
        var idle: ProcessMemory.Reading
        var samples: [(seconds: Double, resident: Int, anonymous: Int)]
        var peak: Int
        var sent = 0, acked = 0, refusedInAcks = 0, lostAcked = 0
        var serverMetrics: JSONValue?
        var healthy = false
        var seconds: Double
    }

    static func run(report: inout Report, directory: TemporaryDirectory, quick: Bool) async throws {
        let executable = try synclayerExecutable()
        let seconds = quick ? 15.0 : 60.0
        let (server, port) = try await ScaleBenchmark.startServer(executable, data: directory.file("flood-server.sqlite"))
        let figures: Figures
        do {
            figures = try await flood(pid: server.pid, port: port, seconds: seconds, writers: 8, pingers: 4, stalled: 20, readers: 2)
        } catch {
            await PythonBroadcastServer.stop(server)
            throw error
        }
        await PythonBroadcastServer.stop(server)
        // Memory grows while caches fill (SQLite's page caches, 16 MB per connection; malloc's
        // arenas); bounded means flat over the second half of the run.
        let half = figures.samples.first { $0.seconds >= figures.seconds / 2 } ?? (0, 0, 0)
        let last = figures.samples.last ?? (0, 0, 0)
        let growth = last.resident - half.resident
        report.note("server process flooded for \(Int(seconds)) s (8 writers of signed 100-change batches, 4 ping flooders, 20 subscribers that never read, 2 that do): resident memory",
                    figures: String(format: "peak %@; at half time %@ (%@ anonymous), at the end %@ (%@ anonymous): growth over the second half %@; vs %@ idle before the flood: peak ratio %.1f",
                                    ProcessMemory.megabytes(figures.peak), ProcessMemory.megabytes(half.resident), ProcessMemory.megabytes(half.anonymous),
                                    ProcessMemory.megabytes(last.resident), ProcessMemory.megabytes(last.anonymous), ProcessMemory.megabytes(growth),
                                    ProcessMemory.megabytes(figures.idle.resident), Double(figures.peak) / Double(max(1, figures.idle.resident))),
                    verdict: growth < 20_000_000 ? "bounded (flat over the second half)" : "GROWING")
        let metrics = figures.serverMetrics
        report.note("  what the server did with it",
                    figures: String(format: "%d changes sent, %d acknowledged (%.0f/s), %d refused in acks; %d frames rate limited; %d slow connections dropped; /health %@",
                                    figures.sent, figures.acked, Double(figures.acked) / figures.seconds, figures.refusedInAcks,
                                    metrics?["rateLimited"]?.intValue ?? -1, metrics?["slowConnectionsDropped"]?.intValue ?? -1,
                                    figures.healthy ? "ok" : "FAILED"),
                    verdict: figures.lostAcked == 0 && figures.healthy ? "every acknowledged change stored" : "LOST \(figures.lostAcked) acknowledged changes")
        // About ten points over the run.
        let step = max(1, figures.samples.count / 10)
        let timeline = stride(from: 0, to: figures.samples.count, by: step).map { figures.samples[$0] }
            .map { String(format: "%.0f s %@", $0.seconds, ProcessMemory.megabytes($0.resident)) }.joined(separator: ", ")
        report.note("  resident memory over the run", figures: timeline, verdict: "")
    }

    static func flood(pid: pid_t, port: Int, seconds: Double, writers writerCount: Int, pingers: Int, stalled: Int, readers: Int) async throws -> Figures {
        let url = "ws://127.0.0.1:\(port)/ws"
        let codec = FrameCodec()
        guard let idle = ProcessMemory.read(pid) else { throw BenchmarkError("the server process is gone") }
        // The greedy subscribers first, so that every commit is queued to them.
        var sockets: [BenchSocket] = []
        for index in 0..<(stalled + readers) {
            let socket = try await BenchSocket.connect(url) { _ in }
            try await socket.send(codec.encodeString(.subscribe(collection: collection)))
            if index < stalled { try await socket.stopReading() }
            sockets.append(socket)
        }
        let writers = (0..<writerCount).map { _ in Writer() }
        var writerSockets: [BenchSocket] = []
        for writer in writers {
            let socket = try await BenchSocket.connect(url) { writer.received($0) }
            try await socket.send(codec.encodeString(.hello(Hello(nodeID: writer.signer.nodeID, vector: VersionVector(), collections: ["elsewhere"]))))
            writerSockets.append(socket)
        }
        var pingSockets: [BenchSocket] = []
        for _ in 0..<pingers {
            pingSockets.append(try await BenchSocket.connect(url) { _ in })
        }

        let start = now()
        let end = start + seconds
        let samples = Locked<[(seconds: Double, resident: Int, anonymous: Int)]>([])
        let text = "Flood: a valid change like any other, with a few fields"
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while now() < end {
                    guard let reading = ProcessMemory.read(pid) else { throw BenchmarkError("the server process died during the flood") }
                    samples.withLock { $0.append((now() - start, reading.resident, reading.anonymous)) }
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            for (writer, socket) in zip(writers, writerSockets) {
                group.addTask {
                    var number = 0
                    let wall = UInt64(Date().timeIntervalSince1970 * 1000)
                    while now() < end {
                        let message = writer.message(writer.batch(number, size: 100, collection: collection, text: text, wall: wall))
                        number += 1
                        // A socket that no longer writes (the server closed it) ends this writer.
                        guard (try? await socket.send(message)) != nil else { return }
                        writer.sent.add(100, ordering: .relaxed)
                    }
                }
            }
            for socket in pingSockets {
                group.addTask {
                    let pings = Array(repeating: codec.encodeString(.ping(time: 1)), count: 500)
                    while now() < end {
                        guard (try? await socket.sendAll(pings)) != nil else { return }
                    }
                }
            }
            try await group.waitForAll()
        }
        let duration = now() - start
        // The kernel's high-water mark of the process's resident set, which no sample can miss.
        let peak = ProcessMemory.read(pid)?.peak ?? 0

        // What the writers saw acknowledged must be stored: each writer's changes are numbered from 1
        // and committed in order, so the server's vector must reach its highest acknowledged number.
        // The acks still in flight get a moment (bounded) to arrive first.
        for _ in 0..<20 where writers.contains(where: { $0.acked.load(ordering: .relaxed) < $0.sent.load(ordering: .relaxed) }) {
            try await Task.sleep(for: .milliseconds(250))
        }
        for socket in sockets + writerSockets + pingSockets { await socket.close() }
        let base = "http://127.0.0.1:\(port)"
        let pull = try await httpJSON(base + "/sync/_pull", body: #"{"collections":["\#(collection)"],"limit":1}"#)
        let vector = pull?["vector"].flatMap(VersionVector.init(json:)) ?? VersionVector()
        let lost = writers.reduce(0) { total, writer in
            let held = vector[writer.signer.nodeID]
            let top = writer.highestAcked.load(ordering: .relaxed)
            return total + (top > held ? Int(top - held) : 0)
        }
        let health = try await httpJSON(base + "/health", body: nil)
        return Figures(idle: idle, samples: samples.withLock { $0 }, peak: peak,
                       sent: writers.reduce(0) { $0 + $1.sent.load(ordering: .relaxed) },
                       acked: writers.reduce(0) { $0 + $1.acked.load(ordering: .relaxed) },
                       refusedInAcks: writers.reduce(0) { $0 + $1.refused.load(ordering: .relaxed) }, lostAcked: lost,
                       serverMetrics: try await httpJSON(base + "/metrics.json", body: nil), healthy: health?["status"]?.stringValue == "ok",
                       seconds: duration)
    }

    /// A GET (or a POST of `body`) to the server, its JSON answer; `nil` if it did not answer.
    static func httpJSON(_ url: String, body: String?) async throws -> JSONValue? {
        var request = HTTPClientRequest(url: url)
        if let body {
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(30)) else { return nil }
        let bytes = try await response.body.collect(upTo: 1 << 24)
        return try? JSONParser().parse(bytes.readableBytesView)
    }
}
