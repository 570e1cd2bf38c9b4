import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import SyncCore

/// The mesh's listener: a WebSocket endpoint at `/mesh` on the configured host and port, each
/// accepted connection run as a ``MeshSession`` (inbound).
extension Mesh {
    func runListener() async throws {
        let router = Router()
        router.get("/health") { _, _ in "ok" }
        // The listener's own logs: its shutdown by cancellation logs errors that are not; our
        // sessions log what matters.
        var quiet = logger
        quiet.logLevel = .critical
        let upgrade = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: .seconds(30)),
            ws: .init(maxFrameSize: 8 << 20, autoPing: .disabled, closeTimeout: .seconds(2)))
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: upgrade) { request, channel, _ in
                guard request.path == "/mesh" else { return .dontUpgrade }
                let address = channel.remoteAddress?.ipAddress ?? "unknown"
                return .upgrade([:]) { inbound, outbound, _ in
                    guard let link = self.openLink(direction: .inbound, address: address) else { return }
                    do {
                        try await MeshSession(mesh: self, link: link, abort: { channel.close(promise: nil) })
                            .run(connection: WebSocketChannel(inbound: inbound, outbound: outbound, eventLoop: channel.eventLoop))
                    } catch {
                        self.logger.debug("inbound mesh link ended", metadata: ["synclayer.error": "\(error)"])
                    }
                }
            },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "synclayer-mesh"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                self.state.withLock { $0.port = port }
                self.logger.info("mesh listening", metadata: ["synclayer.mesh.port": "\(port)", "synclayer.mesh.host": "\(self.configuration.host)"])
                self.listening.fulfill(port)
            },
            logger: quiet
        )
        try await app.run()
    }
}
