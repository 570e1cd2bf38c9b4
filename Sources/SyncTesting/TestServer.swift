import Logging
import ServiceLifecycle
import SyncLayer
import SyncServer
import SyncCore
import SyncStore

/// A real server on a free loopback port, for tests; ``stop()`` shuts it down gracefully.
package final class TestServer: Sendable {
    /// The server.
    package let server: SyncServer
    /// Its port.
    package let port: Int
    private let services: BackgroundServices

    private init(server: SyncServer, port: Int, services: BackgroundServices) {
        self.server = server
        self.port = port
        self.services = services
    }

    /// Starts a server on port 0 over `databasePath` and waits until it listens.
    /// With `tls` it serves HTTPS and WSS only; with `adminToken` its console at `/admin/`.
    package static func start(databasePath: String, authority: TokenAuthority = .open, limits: ServerLimits = ServerLimits(),
                             port: Int = 0, tls: ServerTLS? = nil, adminToken: String? = nil) async throws -> TestServer {
        var configuration = ServerConfiguration(databasePath: databasePath, port: port)
        configuration.adminToken = adminToken
        configuration.authority = authority
        configuration.limits = limits
        configuration.tls = tls
        var logger = Logger(label: "test.server")
        // SYNCLAYER_TEST_SERVER_LOG=debug (or trace) shows what the test servers do.
        logger.logLevel = ProcessInfoEnvironment.value("SYNCLAYER_TEST_SERVER_LOG").flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let server = SyncServer(configuration: configuration, logger: logger)
        let services = BackgroundServices([server], logger: logger)
        guard let port = await server.waitUntilRunning() else {
            try await services.wait()
            throw ChildProcessError(message: "the test server did not start")
        }
        return TestServer(server: server, port: port, services: services)
    }

    /// `http://127.0.0.1:port` (`https://` with TLS).
    package var baseURL: String { "\(server.configuration.tls == nil ? "http" : "https")://127.0.0.1:\(port)" }
    /// `ws://127.0.0.1:port/ws` (`wss://` with TLS).
    package var webSocketURL: String { "\(server.configuration.tls == nil ? "ws" : "wss")://127.0.0.1:\(port)/ws" }

    /// The server's store (while it runs).
    package var store: any ServerStorage { server.store! }

    /// Waits until `condition` holds, checking it now and after each commit on the server.
    package func waitUntil(timeout: Duration = .seconds(30), _ condition: @escaping @Sendable () async throws -> Bool) async throws -> Bool {
        let store = self.store
        return try await waitForCommits(observe: { store.observeCommits($0) }, remove: { store.removeObserver($0) },
                                        timeout: timeout, condition)
    }

    /// Graceful shutdown: waits until the database is closed.
    package func stop() async {
        await services.stop()
    }
}
