import BenchmarkSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization
import SyncTesting

/// The benchmark clients' own event loops, so that they do not share those of the in-process
/// servers and nodes (NIO's singleton group) and queue behind them.
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

/// An atomic shared by a connection's callbacks.
final class SharedCounter: Sendable {
    let value: Atomic<Int>
    init(_ initial: Int) {
        value = Atomic(initial)
    }
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

/// A Python server of the benchmarks (Python `websockets`' broadcast server unless told), a child
/// process on a free loopback port.
final class PythonBroadcastServer: Sendable {
    let child: ChildProcess
    let port: Int
    let python: String

    private init(child: ChildProcess, port: Int, python: String) {
        self.child = child
        self.port = port
        self.python = python
    }

    /// Starts `script` (beside this file, or in `$SYNC_BENCH_SCRIPTS`) with the first Python that
    /// runs it (one that has `needs`, `websockets` for `broadcast_server.py`): `$SYNC_BENCH_PYTHON`,
    /// a venv `pyvenv` in the build folder, then `python3` on the `PATH`. Throws, saying why, when none works.
    static func start(script name: String = "broadcast_server.py", needs: String = "websockets") async throws -> PythonBroadcastServer {
        let directory = ProcessInfo.processInfo.environment["SYNC_BENCH_SCRIPTS"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let script = directory.appendingPathComponent(name).path
        var failures: [String] = []
        for python in candidates() {
            let child = try ChildProcess(executable: python, arguments: [script])
            if let port = await port(printedBy: child) {
                return PythonBroadcastServer(child: child, port: port, python: python)
            }
            await stop(child)
            failures.append("\(python): \(child.standardError.split(separator: "\n").last ?? "no port printed")")
        }
        let setUp = needs.isEmpty ? "" : """

            Set one up with: python3 -m venv .build-bench/pyvenv && .build-bench/pyvenv/bin/pip install \(needs)
            (or point SYNC_BENCH_PYTHON at a python3 that has it)
            """
        throw BenchmarkError("no Python could run \(script) (\(failures.joined(separator: "; ")))." + setUp)
    }

    /// The port a server child prints as its first line, within `seconds`; `nil` if it printed
    /// something else, nothing, or ended.
    static func port(printedBy child: ChildProcess, within seconds: Double = 15) async -> Int? {
        let line = try? await withTimeout(seconds, "port printed") { () -> String in
            for await line in child.lines { return line }
            return ""
        }
        guard let line, let port = Int(line.trimmingCharacters(in: .whitespaces)), port > 0 else { return nil }
        return port
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
