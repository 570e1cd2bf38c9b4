#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import SyncCore
import SyncStore
import Synchronization

/// The SyncLayer server: REST and WebSocket on one port over one SQLite store.
///
/// A `Service`: run it in a `ServiceGroup`; graceful shutdown stops accepting connections, lets
/// in-flight commits finish, and closes the database, so nothing acknowledged is lost.
public final class SyncServer: Service, Sendable {
    /// How the server runs.
    public let configuration: ServerConfiguration
    private let logger: Logger
    private let boundPort = Atomic<Int>(0)
    private let identity = Mutex<NodeID?>(nil)
    private let openStore = Mutex<(any ServerStorage)?>(nil)
    private let ready: AsyncStream<Int>
    private let readyContinuation: AsyncStream<Int>.Continuation

    /// Creates a server with `configuration` that logs to `logger`; nothing is opened or bound until
    /// ``run()``.
    ///
    /// Run it in a `ServiceGroup`, or call ``run()``, and wait for ``waitUntilRunning()`` to learn its
    /// port. If the database or the TLS files cannot be opened, ``run()`` throws a ``ServerError``; if
    /// the server cannot listen (the port is taken, say), ``run()`` logs the error and returns, and
    /// ``waitUntilRunning()`` returns `nil`.
    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "synclayer.server")) {
        self.configuration = configuration
        self.logger = logger
        (ready, readyContinuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The port the server listens on, once it runs (useful with port 0).
    public var port: Int? {
        let port = boundPort.load(ordering: .acquiring)
        return port == 0 ? nil : port
    }

    /// The server's node id (from its database), once it runs.
    public var serverID: NodeID? { identity.withLock { $0 } }

    /// The server's store, while it runs (for tests and tools in the same process).
    package var store: (any ServerStorage)? { openStore.withLock { $0 } }

    /// Waits until the server listens, and returns its port; `nil` if it stopped first.
    public func waitUntilRunning() async -> Int? {
        if let port { return port }
        for await port in ready { return port }
        return port
    }

    public func run() async throws {
        // However the run ends, waitUntilRunning() stops waiting.
        defer { readyContinuation.finish() }
        let configuration = self.configuration
        let tls = try configuration.tls?.makeConfiguration()
        let store: any ServerStorage
        do {
            store = try await openStorage(configuration.databasePath, durability: configuration.durability,
                                          limits: configuration.limits.store, logger: logger)
        } catch {
            throw ServerError(.startup, "cannot open the database \(configuration.databasePath): \(error)")
        }
        identity.withLock { $0 = store.serverID }
        openStore.withLock { $0 = store }
        let metrics = ServerMetrics()
        let hub = ServerHub(signer: store.identity.signer, metrics: metrics)
        let observer = store.observeCommits { event in
            if case .committed(let commit) = event { hub.publish(commit) }
        }
        // Other instances' commits are read in full only in collections a connection here subscribes to.
        store.setInterest { hub.subscribedCollections() }
        store.timeCommits { metrics.commitSeconds.recordNanoseconds($0.nanoseconds) }
        if configuration.authority.isOpen {
            logger.warning("no token file: every client may read and write every collection")
        }
        let router = Router()
        SyncRoutes(store: store, hub: hub, authority: configuration.authority, limits: configuration.limits).add(to: router)
        AdminRoutes(token: configuration.adminToken, store: store, hub: hub)?.add(to: router)
        let limits = configuration.limits
        let authority = configuration.authority
        let logger = self.logger
        // An idle timeout on HTTP connections: a half-open or stalled client must not keep a
        // connection (and graceful shutdown) waiting forever.
        let http = HTTP1Channel.Configuration(idleTimeout: .nanoseconds(limits.httpIdleTimeout.nanoseconds))
        let endpoint = SyncChildChannel.WebSocketEndpoint(
            maxMessageBytes: limits.maxFrameBytes,
            accepts: { uri in uri == "/ws" || uri.hasPrefix("/ws?") },
            prepare: { channel in
                // On the channel's event loop, before the upgrade: the delivery handler goes at the
                // tail now (after TLS), and the WebSocket handlers are added after it (Docs/Delivery.md).
                let delivery = Delivery(eventLoop: channel.eventLoop, limit: limits.outboundQueueLimit, byteLimit: limits.outboundQueueBytes,
                                        metrics: metrics, info: ConnectionInfo(address: Self.address(channel.remoteAddress)))
                try channel.pipeline.syncOperations.addHandler(DeliveryHandler(delivery))
                return delivery
            },
            connect: { delivery, head in
                let token = Self.token(in: head.uri) ?? head.headers.first(name: "authorization").flatMap(Self.bearer)
                return (ServerConnection(delivery: delivery, store: store, hub: hub, authority: authority, limits: limits, logger: logger), token)
            })
        let plain = HTTPServerBuilder { responder in SyncChildChannel(responder: responder, http: http, webSocket: endpoint) }
        let server = try tls.map { try HTTPServerBuilder.tls(plain, tlsConfiguration: $0) } ?? plain
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "synclayer"),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? 0
                self.boundPort.store(port, ordering: .releasing)
                self.readyContinuation.yield(port)
                logger.info("listening", metadata: ["synclayer.server.port": "\(port)", "synclayer.server.host": "\(configuration.host)",
                                                "synclayer.server.tls": "\(tls != nil)"])
            },
            logger: logger
        )
        // On graceful shutdown, every WebSocket connection says goodbye and closes: reading a socket
        // does not end by itself, and the database closes only after every connection has ended.
        await withGracefulShutdownHandler {
            do {
                try await app.run()
            } catch {
                logger.error("server stopped", metadata: ["synclayer.error": "\(error)"])
            }
        } onGracefulShutdown: {
            hub.shutDown()
        }
        await hub.closeAll(grace: .seconds(5))
        hub.finishAll()
        openStore.withLock { $0 = nil }
        store.removeObserver(observer)
        store.timeCommits(nil)
        await store.close()
        logger.info("stopped; database closed")
    }

    /// `HOST:PORT` (`[HOST]:PORT` for IPv6) of a socket address, for the server console.
    static func address(_ address: SocketAddress?) -> String {
        guard let address, let ip = address.ipAddress else { return "unknown" }
        let port = address.port.map { ":\($0)" } ?? ""
        return ip.contains(":") ? "[\(ip)]\(port)" : ip + port
    }

    /// The `token` query parameter of a request path, percent-decoded (by Hummingbird's URI).
    static func token(in path: String) -> String? {
        URI(path).queryParameters["token"].map(String.init)
    }

    static func bearer(_ header: String) -> String? {
        header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : nil
    }
}
