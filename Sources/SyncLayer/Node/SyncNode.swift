import AsyncHTTPClient
import CoreMetrics
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOSSL
import ServiceLifecycle
import SyncCore
import SyncStore

/// An offline-first sync node: a local SQLite store and, when configured, the links that sync it.
///
/// Open one per database file with ``open(_:logger:)``; use ``collection(_:)`` to read and write.
/// Every write returns once it is durable locally; syncing happens in the background.
public final class SyncNode: Service, Sendable {
    /// The configuration the node was opened with.
    public let configuration: SyncConfiguration
    /// The local store. Not public: an app that could acknowledge its own outbox could lose data.
    package let store: LocalStore
    let hub = EventHub()
    let metricsRecorder: MetricsRecorder
    /// The node's clock: the machine's, corrected by the server's when it is off.
    package let wallClock: SystemWallClock
    let logger: Logger
    let engine: SyncEngine
    let linkStatesBroadcaster: LinkStateBroadcaster
    let link: RealtimeLink?
    /// The LAN mesh, when configured.
    let mesh: Mesh?
    /// The node's own HTTP client (polling), shut down with the node so no idle connection outlives it.
    let httpClient: HTTPClient
    /// The REST side of sync, when a `baseURL` is set: the polling loop, `syncNow()`, and the
    /// realtime session's question to a silent backend. It holds no state of its own.
    let poller: Poller?
    /// ``close()`` ran.
    private let closed = Locked(false)

    private init(configuration: SyncConfiguration, tls: TLSConfiguration, store: LocalStore, wallClock: SystemWallClock, logger: Logger) {
        // Before the clients below set up their pipelines on several event loops at once.
        HTTPHandlerMetadata.warmUp()
        self.configuration = configuration
        self.store = store
        self.wallClock = wallClock
        self.logger = logger
        metricsRecorder = MetricsRecorder(factory: configuration.metricsFactory ?? MetricsSystem.factory)
        metricsRecorder.timeCommits(of: store)
        linkStatesBroadcaster = LinkStateBroadcaster(now: { wallClock.nowMillis() })
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(15))
        // A server that refuses the connection (down, or its TLS certificate not trusted) fails the
        // poll at once: the poller has its own schedule, and a poll that retried connecting until
        // its deadline kept `syncNow()` waiting for it.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        httpConfiguration.tlsConfiguration = tls
        httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        engine = SyncEngine(store: store, configuration: configuration, hub: hub, metrics: metricsRecorder, wallClock: wallClock, logger: logger)
        let poller = configuration.baseURL == nil ? nil : Poller(engine: engine, configuration: configuration, client: httpClient, logger: logger)
        self.poller = poller
        if configuration.enableRealtimeSync, let url = configuration.effectiveWebSocketURL {
            // A backend that sends nothing on the WebSocket is asked over REST whether it is ours
            // before anything is written to it in the original protocol (RealtimeSession).
            var confirmSilence: (@Sendable () async -> DialectEvidence?)?
            if let poller { confirmSilence = { await poller.probeDialect() } }
            link = RealtimeLink(engine: engine, configuration: configuration, url: url, tls: tls, states: linkStatesBroadcaster, logger: logger,
                                confirmSilence: confirmSilence)
        } else {
            link = nil
        }
        let engine = self.engine
        mesh = configuration.mesh.map { Mesh(engine: engine, configuration: $0, logger: logger) }
        // Every local write reaches sync through its commit: no write API has to remember to tell the engine.
        // The store forgets its observers when it closes.
        _ = store.observeCommits { [engine] event in
            guard case .committed(let commit) = event else { return }
            var local: [Change] = []
            for committed in commit.changes where committed.isLocal { local.append(committed.change) }
            engine.localChangesCommitted(local)
        }
    }

    /// Validates `configuration`, then opens (or creates) the node's database.
    ///
    /// - Throws: ``ConfigurationError`` naming the field at fault, or ``SyncError`` when the database
    ///   cannot be opened.
    public static func open(_ configuration: SyncConfiguration, logger: Logger = Logger(label: "synclayer")) async throws -> SyncNode {
        try await open(configuration, logger: logger, clock: SystemWallClock())
    }

    /// Opens a node whose clock is `clock`: the machine's clock as the node sees it (tests give one
    /// with an offset to play a machine whose clock is wrong).
    package static func open(_ configuration: SyncConfiguration, logger: Logger = Logger(label: "synclayer"),
                             clock: SystemWallClock) async throws -> SyncNode {
        try configuration.validate()
        let tls = try ServerTrust.tlsConfiguration(for: configuration)
        let wallClock = clock
        let driftMillis = UInt64(max(0, configuration.maxClockDrift.components.seconds * 1000
            + configuration.maxClockDrift.components.attoseconds / 1_000_000_000_000_000))
        let store = try await translatingErrors {
            try await LocalStore.open(path: configuration.databasePath, durability: configuration.durability,
                                      wallClock: wallClock, maxClockDriftMillis: driftMillis, logger: logger)
        }
        logger.info("node opened", metadata: ["synclayer.node.id": "\(store.nodeID)", "synclayer.store.path": "\(configuration.databasePath)"])
        return SyncNode(configuration: configuration, tls: tls, store: store, wallClock: wallClock, logger: logger)
    }

    /// Opens a node, runs `body` with it, and closes it, also when `body` throws.
    public static func with<T>(_ configuration: SyncConfiguration, logger: Logger = Logger(label: "synclayer"),
                               _ body: (SyncNode) async throws -> T) async throws -> T {
        let node = try await open(configuration, logger: logger)
        do {
            let result = try await body(node)
            await node.close()
            return result
        } catch {
            await node.close()
            throw error
        }
    }

    /// This node's stable id.
    public var nodeID: NodeID { store.nodeID }

    /// The collection called `name`. Writes to it throw `collectionNotConfigured` when the
    /// configuration lists collections and `name` is not one of them.
    public func collection(_ name: String) -> CollectionReference {
        CollectionReference(name: name, node: self)
    }

    /// The collection called `name`, its documents encoded from and decoded to `type`.
    public func collection<Value: Codable & Sendable>(_ name: String, of type: Value.Type) -> TypedCollection<Value> {
        TypedCollection(base: collection(name))
    }

    /// Every event from now on, buffered per subscriber (the oldest are dropped past 4,096).
    public func events() -> AsyncStream<SyncEvent> {
        hub.subscribe()
    }

    /// A snapshot of the node's sync figures.
    public func metrics() -> SyncMetrics {
        metricsRecorder.snapshot()
    }

    /// Finishes pending writes, ends event streams and closes the database. Stop ``run()`` first.
    public func close() async {
        hub.finish()
        linkStatesBroadcaster.finish()
        closed.withLock { $0 = true }
        try? await httpClient.shutdown()
        await store.close()
    }

    /// A node released without ``close()`` still lets its HTTP client's connections go. Left up, the
    /// client would keep them, and a debug build would stop in the client's own deinit.
    deinit {
        if !closed.withLock({ $0 }) {
            logger.warning("a node was released without close(): shutting its HTTP client down; call close() to finish its writes first")
        }
        // Once `close()` has shut it down, this only reports `alreadyShutdown`, which nobody needs.
        httpClient.shutdown(queue: .global()) { _ in }
    }

    /// Whether writes to `collection` are allowed by the configuration.
    func checkConfigured(_ collection: String) throws {
        if let problem = Identifiers.problem(withCollection: collection) {
            throw SyncError(.invalidArgument, problem)
        }
        if !configuration.collections.isEmpty && !configuration.collections.contains(collection) {
            throw SyncError(.collectionNotConfigured,
                            "\"\(collection)\" is not among the configured collections (\(configuration.collections.joined(separator: ", ")))")
        }
    }
}
