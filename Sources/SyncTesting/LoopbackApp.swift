import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Services run in their own service group in the background; ``stop()`` shuts them down gracefully.
package final class BackgroundServices: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    package init(_ services: [any Service], logger: Logger, shutdownLimit: Duration = .seconds(5)) {
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.maximumGracefulShutdownDuration = shutdownLimit
        let group = ServiceGroup(configuration: configuration)
        self.group = group
        task = Task { try await group.run() }
    }

    /// Shuts the services down gracefully and waits until they ended.
    package func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    /// Waits until the services ended by themselves, rethrowing what ended them.
    func wait() async throws {
        try await task.value
    }
}

/// A Hummingbird application on 127.0.0.1 at a free port, in the background: test backends and
/// benchmark baselines. ``stop()`` shuts it down gracefully.
package final class LoopbackApp: Sendable {
    /// The port it listens on.
    package let port: Int
    private let services: BackgroundServices

    private init(port: Int, services: BackgroundServices) {
        self.port = port
        self.services = services
    }

    /// Builds the application with `makeApp` (given where to listen and what to call once it
    /// listens), runs it, and returns once it listens.
    package static func start(name: String, logger: Logger, shutdownLimit: Duration = .seconds(5),
                             _ makeApp: (_ configuration: ApplicationConfiguration,
                                         _ onServerRunning: @escaping @Sendable (any Channel) async -> Void) -> any Service) async throws -> LoopbackApp {
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        let app = makeApp(.init(address: .hostname("127.0.0.1", port: 0), serverName: name)) { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
        }
        let services = BackgroundServices([app], logger: logger, shutdownLimit: shutdownLimit)
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port != 0 else {
            await services.stop()
            throw ChildProcessError(message: "\(name) did not start")
        }
        return LoopbackApp(port: port, services: services)
    }

    /// Shuts the application down gracefully.
    package func stop() async {
        await services.stop()
    }
}
