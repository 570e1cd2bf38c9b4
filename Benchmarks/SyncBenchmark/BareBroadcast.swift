import BenchmarkSupport
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ServiceLifecycle
import SyncLayer
import SyncTesting
import SyncCore

/// A reference for the fan-out, not a target: the same minimal protocol as `broadcast_server.py`,
/// on our server's stack (Hummingbird + hummingbird-websocket, configured as `SyncServer`, one queue
/// and writer task per connection as `ServerConnection` had when this was written), with no store, no
/// decoding and no ordering. What the stack itself delivers on this machine, with the same clients.
/// The fan-out benchmark runs it as its own process: `sync-benchmark serve-bare-broadcast`.
enum BareBroadcastServer {
    /// The argument that makes `sync-benchmark` run this server instead of the benchmarks.
    static let serveArgument = "serve-bare-broadcast"

    /// Serves on a free loopback port, printed as the first line of standard output, until this
    /// process is ended (SIGTERM) or the process that started it has ended (at most an hour).
    static func serve() async throws {
        try await serveAsChild(start)
    }

    static func start() async throws -> LoopbackApp {
        var logger = Logger(label: "bench.bare")
        logger.logLevel = .warning
        let subscribers = Locked<[Int: AsyncStream<String>.Continuation]>([:])
        let nextID = Locked<Int>(0)
        let upgrade = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(), ws: .init(maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .seconds(30)), closeTimeout: .seconds(5)))
        return try await LoopbackApp.start(name: "bare", logger: logger) { configuration, onServerRunning in
            Application(
                router: Router(),
                server: .http1WebSocketUpgrade(configuration: upgrade) { _, _, _ in
                    .upgrade([:]) { inbound, outbound, _ in
                        let id = nextID.withLock { $0 += 1; return $0 }
                        let (queue, continuation) = AsyncStream.makeStream(of: String.self)
                        defer { subscribers.withLock { _ = $0.removeValue(forKey: id) }; continuation.finish() }
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask { for await text in queue { try await outbound.write(.text(text)) } }
                            for try await message in inbound.messages(maxSize: 1 << 20) {
                                guard case .text(let text) = message else { continue }
                                if text.contains("\"subscribe\"") {
                                    continuation.yield(#"{"type":"subscribed","collection":"bench"}"#)
                                    subscribers.withLock { $0[id] = continuation }
                                } else {
                                    let targets = subscribers.withLock { Array($0.filter { $0.key != id }.values) }
                                    for target in targets { target.yield(text) }
                                }
                            }
                            continuation.finish()
                            try await group.waitForAll()
                        }
                    }
                },
                configuration: configuration, onServerRunning: onServerRunning, logger: logger)
        }
    }
}
