import BenchmarkSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization
import SyncLayer
import SyncTesting
import SyncCore

/// The fan-out clients' own event loops, so that they do not share the in-process servers' (NIO's
/// singleton group) and queue behind them.
let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)

/// A lean WebSocket client for the fan-out, on SwiftNIO directly: each received message's bytes go
/// to `onMessage` on the connection's event loop, with no task hop, queue or conversion per frame,
/// so that the clients (which share this 2-core machine with the server under test) cost as little
/// as possible. The same code drives every server.
final class BenchSocket: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects to `url` (`ws://127.0.0.1:port/path`); returns once the WebSocket is open.
    static func connect(_ url: String, onMessage: @escaping @Sendable (ByteBuffer) -> Void) async throws -> BenchSocket {
        guard let parsed = URL(string: url), let host = parsed.host, let port = parsed.port else { throw BenchmarkError("bad URL \(url)") }
        let path = parsed.path.isEmpty ? "/" : parsed.path
        let upgraded: EventLoopFuture<(any Channel)?> = try await ClientBootstrap(group: clientGroup)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<(any Channel)?>(maxFrameSize: 1 << 20) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(MessageHandler(onMessage: onMessage))
                            return channel
                        }
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "\(host):\(port)")
                    headers.add(name: "Content-Length", value: "0")
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration(
                        upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers),
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(nil) })
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: configuration))
                }
            }
        guard let channel = try await upgraded.get() else { throw BenchmarkError("\(url) refused the WebSocket upgrade") }
        return BenchSocket(channel: channel)
    }

    /// Sends one text message (masked, as a client must).
    func send(_ text: String) async throws {
        try await channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text)))
    }

    /// Sends each text as its own message, flushed at once, without waiting between them (the
    /// socket buffers what the server has not read yet); returns when the last one is written.
    func sendAll(_ texts: [String]) async throws {
        let channel = self.channel
        let done = channel.eventLoop.makePromise(of: Void.self)
        channel.eventLoop.execute {
            for text in texts.dropLast() {
                channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: text)), promise: nil)
            }
            let last = WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: ByteBuffer(string: texts.last ?? ""))
            channel.writeAndFlush(last, promise: done)
        }
        try await done.futureResult.get()
    }

    /// Stops reading from the socket: a client that never reads, whose data the server must queue
    /// (and, past its limit, drop the connection).
    func stopReading() async throws {
        try await channel.setOption(.autoRead, value: false).get()
    }

    func close() async {
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer(bytes: [0x03, 0xE8]))
        try? await channel.writeAndFlush(frame)
        try? await channel.close()
    }

    /// Hands data frames to `onMessage`; answers pings; closes on a close frame.
    final class MessageHandler: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let onMessage: @Sendable (ByteBuffer) -> Void

        init(onMessage: @escaping @Sendable (ByteBuffer) -> Void) {
            self.onMessage = onMessage
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = Self.unwrapInboundIn(data)
            switch frame.opcode {
            case .text, .binary:
                // Messages here are small: one frame each.
                onMessage(frame.unmaskedData)
            case .ping:
                let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
                context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
            case .connectionClose:
                context.close(promise: nil)
            default:
                break
            }
        }
    }
}

/// Counts subscribers that have received everything, and when the last one did.
final class Completion: Sendable {
    private let remaining: Atomic<Int>
    private let finishedAt = Atomic<UInt64>(0)
    private let done: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    let received = Atomic<Int>(0)
    let anomalies = Locked<[String]>([])

    init(subscribers: Int) {
        remaining = Atomic(subscribers)
        (done, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func subscriberDone() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            finishedAt.store(now().bitPattern, ordering: .releasing)
            continuation.yield()
            continuation.finish()
        }
    }

    /// When the last subscriber received its last frame (monotonic seconds).
    var finished: Double { Double(bitPattern: finishedAt.load(ordering: .acquiring)) }

    func wait() async {
        for await _ in done { return }
    }
}

/// A subscriber of the original protocol: subscribes to `collection`, then counts change frames.
final class Subscriber: Sendable {
    let socket: BenchSocket

    private init(socket: BenchSocket) {
        self.socket = socket
    }

    static func connect(url: String, collection: String, expected: Int, completion: Completion) async throws -> Subscriber {
        let (subscribed, subscribedContinuation) = AsyncStream.makeStream(of: Void.self)
        let counter = SharedCounter(-1)  // -1 until `subscribed` arrives
        let socket = try await BenchSocket.connect(url) { data in
            if counter.value.load(ordering: .relaxed) < 0 {
                if String(buffer: data).contains("subscribed") {
                    counter.value.store(0, ordering: .relaxed)
                    subscribedContinuation.yield()
                    subscribedContinuation.finish()
                }
                return
            }
            let received = counter.value.add(1, ordering: .relaxed).newValue
            completion.received.add(1, ordering: .relaxed)
            if received == 1 || received == expected, !String(buffer: data).contains(#""type":"insert""#) {
                let text = String(buffer: data)
                completion.anomalies.withLock { $0.append("unexpected frame: \(text.prefix(200))") }
            }
            if received == expected { completion.subscriberDone() }
        }
        try await socket.send(#"{"type":"subscribe","collection":"\#(collection)"}"#)
        let ok = try await withTimeout(10, "subscribed") {
            for await _ in subscribed { return true }
            return false
        }
        guard ok else { throw BenchmarkError("no subscribed frame from \(url)") }
        return Subscriber(socket: socket)
    }
}

/// An atomic shared by a connection's callbacks.
final class SharedCounter: Sendable {
    let value: Atomic<Int>
    init(_ initial: Int) {
        value = Atomic(initial)
    }
}

/// One fan-out round: `subscribers` connections subscribe to "bench", one writer sends `frames`
/// insert frames as fast as it can. Returns the seconds from the first send until every subscriber
/// has received every frame.
func fanOutRound(url: String, subscribers: Int, frames: Int, tag: String, text: String) async throws -> Double {
    let completion = Completion(subscribers: subscribers)
    var connections: [Subscriber] = []
    for _ in 0..<subscribers {
        connections.append(try await Subscriber.connect(url: url, collection: "bench", expected: frames, completion: completion))
    }
    let writerReplies = Locked<[String]>([])
    let writer = try await BenchSocket.connect(url) { data in
        let text = String(buffer: data)
        writerReplies.withLock { if $0.count < 5 { $0.append(String(text.prefix(200))) } }
    }
    let payloads = (0..<frames).map { index in
        #"{"type":"insert","collection":"bench","recordId":"\#(tag)-\#(index)","data":{"n":\#(index),"text":"\#(text)"},"timestamp":"2026-01-01T00:00:00.000Z"}"#
    }
    let start = now()
    try await writer.sendAll(payloads)
    let finished = (try? await withTimeout(120, "fan-out") { await completion.wait(); return true }) ?? false
    let seconds = completion.finished - start
    await writer.close()
    await withTaskGroup(of: Void.self) { group in
        for connection in connections { group.addTask { await connection.socket.close() } }
    }
    let anomalies = completion.anomalies.withLock { $0 }
    guard finished, anomalies.isEmpty else {
        throw BenchmarkError("fan-out to \(url) incomplete: \(completion.received.load(ordering: .relaxed)) of \(frames * subscribers) frames; "
            + "writer got \(writerReplies.withLock { $0 }); \(anomalies.prefix(3))")
    }
    return seconds
}

/// Runs `body`, giving up after `seconds`. The clock is a loop of short sleeps that checks for
/// cancellation, so the group ends promptly once `body` is done (a run stalled once for the whole
/// timeout after `body` had returned, with the timer a single long `Task.sleep`).
func withTimeout<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let deadline = now() + seconds
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            while !Task.isCancelled, now() < deadline {
                try? await Task.sleep(for: .milliseconds(50))
            }
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw BenchmarkError("timed out after \(Int(seconds)) s: \(what)") }
        return value
    }
}

/// The Python `websockets` broadcast server, a child process on a free loopback port.
final class PythonBroadcastServer: Sendable {
    let child: ChildProcess
    let port: Int
    let python: String

    private init(child: ChildProcess, port: Int, python: String) {
        self.child = child
        self.port = port
        self.python = python
    }

    /// Starts `broadcast_server.py` with the first Python that has `websockets`: `$SYNC_BENCH_PYTHON`,
    /// a venv `pyvenv` in the build folder, then `python3` on the `PATH`. Throws, saying why, when none works.
    static func start() async throws -> PythonBroadcastServer {
        let script = ProcessInfo.processInfo.environment["SYNC_BENCH_SCRIPT"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("broadcast_server.py").path
        var failures: [String] = []
        for python in candidates() {
            let child = try ChildProcess(executable: python, arguments: [script])
            let line = try? await withTimeout(15, "python start") { () -> String in
                for await line in child.lines { return line }
                return ""
            }
            if let line, let port = Int(line.trimmingCharacters(in: .whitespaces)), port > 0 {
                return PythonBroadcastServer(child: child, port: port, python: python)
            }
            await stop(child)
            failures.append("\(python): \(child.standardError.split(separator: "\n").last ?? "no port printed")")
        }
        throw BenchmarkError("""
            no Python with `websockets` could run \(script) (\(failures.joined(separator: "; "))).
            Set one up with: python3 -m venv .build-bench/pyvenv && .build-bench/pyvenv/bin/pip install websockets
            (or point SYNC_BENCH_PYTHON at a python3 that has it)
            """)
    }

    static func candidates() -> [String] {
        let environment = ProcessInfo.processInfo.environment
        var found: [String] = []
        if let python = environment["SYNC_BENCH_PYTHON"] { found.append(python) }
        // <build folder>/release/sync-benchmark, or <build folder>/<triple>/release/sync-benchmark.
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            directory = directory.deletingLastPathComponent()
            found.append(directory.appendingPathComponent("pyvenv/bin/python3").path)
        }
        for path in (environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            found.append("\(path)/python3")
        }
        var seen = Set<String>()
        return found.filter { FileManager.default.isExecutableFile(atPath: $0) && seen.insert($0).inserted }
    }

    func stop() async {
        await Self.stop(child)
    }

    /// SIGTERM, then SIGKILL if the child is still there after 5 s; always by its pid.
    static func stop(_ child: ChildProcess) async {
        guard !child.hasExited else { return }
        child.send(SIGTERM)
        let exited = (try? await withTimeout(5, "python exit") { await child.waitForExit(); return true }) ?? false
        if !exited {
            child.send(SIGKILL)
            await child.waitForExit()
        }
    }
}
