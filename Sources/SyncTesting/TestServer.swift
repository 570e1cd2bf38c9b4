import Logging
import ServiceLifecycle
import SyncLayer
import SyncServer

/// A real server on a free loopback port, for tests; ``stop()`` shuts it down gracefully.
public final class TestServer: Sendable {
    /// The server.
    public let server: SyncServer
    /// Its port.
    public let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(server: SyncServer, port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.server = server
        self.port = port
        self.group = group
        self.task = task
    }

    /// Starts a server on port 0 over `databasePath` and waits until it listens.
    public static func start(databasePath: String, authority: TokenAuthority = .open, limits: ServerLimits = ServerLimits(),
                             port: Int = 0) async throws -> TestServer {
        var configuration = ServerConfiguration(databasePath: databasePath, port: port)
        configuration.authority = authority
        configuration.limits = limits
        var logger = Logger(label: "test.server")
        logger.logLevel = .warning
        let server = SyncServer(configuration: configuration, logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(services: [server], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        let task = Task { try await group.run() }
        guard let port = await server.waitUntilRunning() else {
            _ = try await task.value
            throw ChildProcessError(message: "the test server did not start")
        }
        return TestServer(server: server, port: port, group: group, task: task)
    }

    /// `http://127.0.0.1:port`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// `ws://127.0.0.1:port/ws`.
    public var webSocketURL: String { "ws://127.0.0.1:\(port)/ws" }

    /// The server's store (while it runs).
    public var store: ServerStore { server.store! }

    /// Waits until `condition` holds, checking it now and after each commit on the server.
    public func waitUntil(timeout: Duration = .seconds(30), _ condition: @escaping @Sendable () async throws -> Bool) async throws -> Bool {
        let store = self.store
        return try await waitForCommits(observe: { store.observeCommits($0) }, remove: { store.removeObserver($0) },
                                        timeout: timeout, condition)
    }

    /// Graceful shutdown: waits until the database is closed.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
