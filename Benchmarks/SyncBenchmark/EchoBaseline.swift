import BenchmarkSupport
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ServiceLifecycle
import SyncLayer
import SyncTesting
import WSClient
import SyncCore

/// The latency baseline: a Hummingbird + hummingbird-websocket server that echoes every message,
/// configured as `SyncServer` configures its WebSocket channel.
enum EchoServer {
    /// The argument that makes `sync-benchmark` run this server instead of the benchmarks (part 1
    /// with each server in its own process).
    static let serveArgument = "serve-echo"

    static func start() async throws -> LoopbackApp {
        var logger = Logger(label: "bench.echo")
        logger.logLevel = .warning
        let upgrade = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(), ws: .init(maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .seconds(30)), closeTimeout: .seconds(5)))
        return try await LoopbackApp.start(name: "echo", logger: logger) { configuration, onServerRunning in
            Application(
                router: Router(),
                server: .http1WebSocketUpgrade(configuration: upgrade) { _, _, _ in
                    .upgrade([:]) { inbound, outbound, _ in
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            switch message {
                            case .text(let text): try await outbound.write(.text(text))
                            case .binary(let buffer): try await outbound.write(.binary(buffer))
                            }
                        }
                    }
                },
                configuration: configuration, onServerRunning: onServerRunning, logger: logger)
        }
    }
}

/// Serves `start()`'s app on a free loopback port, printed as the first line of standard output,
/// until this process is ended (SIGTERM) or the process that started it has ended (at most an hour):
/// a reference server run as its own process (`sync-benchmark serve-…`).
func serveAsChild(_ start: () async throws -> LoopbackApp) async throws {
    let parent = getppid()
    let app = try await start()
    FileHandle.standardOutput.write(Data("\(app.port)\n".utf8))
    let deadline = now() + 3_600
    while getppid() == parent, now() < deadline {
        try? await Task.sleep(for: .milliseconds(500))
    }
    await app.stop()
}

/// This executable run as the reference server `argument` names (``serveAsChild(_:)``): the child
/// and the loopback port it printed. Throws, the child stopped, when it printed none.
func startServingChild(_ argument: String, name: String) async throws -> (ChildProcess, port: Int) {
    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let child = try ChildProcess(executable: executable, arguments: [argument])
    guard let port = await PythonBroadcastServer.port(printedBy: child) else {
        await PythonBroadcastServer.stop(child)
        throw BenchmarkError("the \(name) did not start: \(child.standardError.suffix(500))")
    }
    return (child, port)
}

/// Round trips of `message` through the echo server run as its own process (this executable as
/// `sync-benchmark serve-echo`, started and stopped here): the seconds of each after `warmUp`
/// unmeasured ones.
func echoLatenciesOfChild(message: String, warmUp: Int, samples: Int) async throws -> [Double] {
    let (child, port) = try await startServingChild(EchoServer.serveArgument, name: "echo server")
    do {
        let latencies = try await echoRoundTrips(port: port, message: message, warmUp: warmUp, samples: samples)
        await PythonBroadcastServer.stop(child)
        return latencies
    } catch {
        await PythonBroadcastServer.stop(child)
        throw error
    }
}

/// Round trips of `message` through a new echo server (started and stopped here): the seconds of
/// each after `warmUp` unmeasured ones.
func echoLatencies(message: String, warmUp: Int, samples: Int) async throws -> [Double] {
    let echo = try await EchoServer.start()
    do {
        let latencies = try await echoRoundTrips(port: echo.port, message: message, warmUp: warmUp, samples: samples)
        await echo.stop()
        return latencies
    } catch {
        await echo.stop()
        throw error
    }
}

/// Round trips of `message` through the echo server at `port`, one at a time on one connection:
/// the seconds of each after `warmUp` unmeasured ones.
func echoRoundTrips(port: Int, message: String, warmUp: Int, samples: Int) async throws -> [Double] {
    var logger = Logger(label: "bench.echo-client")
    logger.logLevel = .critical
    let result = Locked<[Double]>([])
    try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/", configuration: .init(maxFrameSize: 1 << 20), logger: logger) { inbound, outbound, _ in
        var iterator = inbound.makeAsyncIterator()
        var latencies: [Double] = []
        latencies.reserveCapacity(samples)
        for index in 0..<(warmUp + samples) {
            let start = now()
            try await outbound.write(.text(message))
            guard let echoed = try await iterator.nextMessage(maxSize: 1 << 20) else { throw BenchmarkError("the echo connection closed") }
            let end = now()
            guard case .text(let text) = echoed, text.utf8.count == message.utf8.count else { throw BenchmarkError("wrong echo") }
            if index >= warmUp { latencies.append(end - start) }
        }
        result.withLock { $0 = latencies }
        try await outbound.close(.normalClosure, reason: nil)
    }
    let latencies = result.withLock { $0 }
    guard latencies.count == samples else { throw BenchmarkError("the echo run ended early") }
    return latencies
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
