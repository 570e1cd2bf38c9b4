import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ServiceLifecycle
import SyncLayer

/// A reference for the fan-out, not a target: the same minimal protocol as `broadcast_server.py`,
/// on our server's stack (Hummingbird + hummingbird-websocket, configured as `SyncServer`, one queue
/// and writer task per connection as `ServerConnection` has), with no store, no decoding and no
/// ordering. What the stack itself delivers on this machine, with the same clients.
final class BareBroadcastServer: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    static func start() async throws -> BareBroadcastServer {
        var logger = Logger(label: "bench.bare")
        logger.logLevel = .warning
        let subscribers = Locked<[Int: AsyncStream<String>.Continuation]>([:])
        let nextID = Locked<Int>(0)
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        let upgrade = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(), ws: .init(maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .seconds(30)), closeTimeout: .seconds(5)))
        let app = Application(
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
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "bare"),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port != 0 else { throw BenchmarkError("the bare server did not start") }
        return BareBroadcastServer(port: port, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
