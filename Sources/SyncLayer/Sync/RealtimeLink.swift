#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import HTTPTypes
import NIOCore
import NIOSSL
import WSClient
import SyncCore

/// The realtime WebSocket link to the server: connects, runs a ``RealtimeSession``, and reconnects
/// by the ``RealtimeLinkStateMachine``'s rules until the node stops or `disconnect()` is called.
final class RealtimeLink: Sendable {
    let engine: SyncEngine
    let configuration: SyncConfiguration
    let url: String
    /// For `wss://` URLs (``ServerTrust``).
    let tls: TLSConfiguration
    let logger: Logger
    let states: LinkStateBroadcaster
    private let machine: Locked<RealtimeLinkStateMachine>
    private let wakeup = Wakeup()
    /// Closes the current connection, if any.
    private let closeCurrent = Locked<AsyncCallback?>(nil)
    private let wanted = Locked(true)
    /// Asks the backend's REST route whether it is ours, for a session whose backend sent nothing
    /// (``RealtimeSession/confirmSilence``); `nil` without a REST base URL.
    private let confirmSilence: (@Sendable () async -> DialectEvidence?)?

    init(engine: SyncEngine, configuration: SyncConfiguration, url: String, tls: TLSConfiguration, states: LinkStateBroadcaster, logger: Logger,
         confirmSilence: (@Sendable () async -> DialectEvidence?)? = nil) {
        self.confirmSilence = confirmSilence
        self.engine = engine
        self.configuration = configuration
        self.url = url
        self.tls = tls
        self.states = states
        self.logger = logger
        machine = Locked(RealtimeLinkStateMachine(configuration: .init(
            reconnectDelay: configuration.websocketReconnectDelay, maxAttempts: configuration.maxWebsocketReconnectAttempts,
            probeInterval: configuration.syncInterval)))
    }

    /// Runs until the task is cancelled.
    func run() async {
        var action = machine.withLock { $0.start() }
        // With several instances, moving to the next one does not wait: each is tried once at once,
        // then the state machine's back-off applies (a handshake gives the tries back).
        let servers = engine.servers
        var immediateTries = servers.urls.count - 1
        while !Task.isCancelled {
            switch action {
            case .connect:
                publish()
                let (moved, connected, refused) = await connectOnce()
                if connected { immediateTries = servers.urls.count - 1 }
                action = machine.withLock { $0.connectionEnded(random: Double.random(in: 0..<1), refused: refused) }
                if moved, immediateTries > 0, case .wait = action {
                    immediateTries -= 1
                    action = machine.withLock { $0.waitElapsed() }
                }
            case .wait(let delay):
                publish()
                await wakeup.wait(timeout: delay)
                action = machine.withLock { $0.waitElapsed() }
            case .idle:
                publish()
                await wakeup.wait(timeout: .seconds(3600))
                if wanted.withLock({ $0 }) { action = machine.withLock { $0.start() } }
            }
        }
        await closeCurrent.withLock { $0 }?()
        states.set(.disconnected)
    }

    /// How often the link sends WebSocket ping frames: the ping interval, but at least 3 s, so a
    /// loaded machine (or a test's short interval) does not lose a healthy link to one late pong.
    static func webSocketPingPeriod(_ configuration: SyncConfiguration) -> Duration {
        max(configuration.pingInterval, .seconds(3))
    }

    /// Sessions in a row that completed their handshake and were then refused (the back-off's count).
    var refusalsInARow: Int { machine.withLock { $0.refusals } }

    /// Asks for the link (after `disconnect()`).
    func connect() {
        wanted.withLock { $0 = true }
        wakeup.signal()
    }

    /// Closes the link and keeps it closed until `connect()`; never triggers a reconnection.
    func disconnect() async {
        wanted.withLock { $0 = false }
        _ = machine.withLock { $0.stop() }
        publish()
        await closeCurrent.withLock { $0 }?()
        wakeup.signal()
    }

    /// Tells the broadcaster the state machine's state. Read and told under the machine's lock: read
    /// under it and told after it, a `publish()` racing another (the run loop's, `disconnect()`'s,
    /// the session's at its handshake) could tell an older state last.
    private func publish() {
        machine.withLock { states.set($0.state) }
    }

    /// One connection to the instance in use; returns whether the node moved to another instance
    /// after it (it failed), whether it got connected, and whether its session ended on
    /// ``RealtimeSession/AuthenticationRefused``.
    private func connectOnce() async -> (moved: Bool, connected: Bool, refused: Bool) {
        let base = engine.servers.current
        var target = configuration.websocketURL ?? base.flatMap(SyncConfiguration.webSocketURL(forBase:)) ?? url
        var headers = HTTPFields()
        if let token = configuration.authToken {
            let encoded = PercentEncoding.encode(token)
            target += (target.contains("?") ? "&" : "?") + "token=\(encoded)"
            headers[.authorization] = "Bearer \(token)"
        }
        let connected = Locked(false)
        let started = ContinuousClock.now
        let session = RealtimeSession(engine: engine, configuration: configuration, logger: logger, confirmSilence: confirmSilence)
        do {
            try await open(session, target, headers: headers, connected: connected, started: started)
        } catch {
            if error is NIOSSLError {
                // Retrying will not help until the certificate or the node's trust changes: say so.
                logger.warning("TLS with the server failed (is its certificate signed by what trustedCertificatesPath names?)",
                               metadata: ["synclayer.error": "\(error)"])
            } else if !(error is CancellationError) {
                logger.debug("realtime connection ended", metadata: ["synclayer.error": "\(error)"])
            }
            if !connected.withLock({ $0 }) { engine.metrics.recordError("realtime connect: \(error)") }
        }
        closeCurrent.withLock { $0 = nil }
        let wasConnected = connected.withLock { $0 }
        if wasConnected {
            if !Task.isCancelled, wanted.withLock({ $0 }) { logger.info("realtime link lost; reconnecting") }
            engine.emit(.realtimeDisconnected)
            engine.emit(.connectivityChanged, metadata: ["realtime": false])
        }
        // Refused, reset, closed or silent: the next instance, if there is one (not when the node stops).
        guard !Task.isCancelled, wanted.withLock({ $0 }), let base else { return (false, wasConnected, session.wasRefused) }
        return (engine.servers.failed(base), wasConnected, session.wasRefused)
    }

    /// Opens the WebSocket and runs `session` on it until it ends (``WebSocketDial``: on
    /// cancellation, or when the server accepted TCP but never answered the upgrade (a partition can
    /// swallow even that) within two ping intervals, at least 5 s, the link stops waiting and the
    /// connection ends on its own).
    private func open(_ session: RealtimeSession, _ target: String, headers: HTTPFields, connected: Locked<Bool>,
                      started: ContinuousClock.Instant) async throws {
        var clientLoggerLogger = logger
        clientLoggerLogger.logLevel = max(logger.logLevel, .warning)
        let clientLogger = clientLoggerLogger
        let dial = WebSocketDial()
        try await dial.run(upgradeDeadline: max(configuration.pingInterval * 2, .seconds(5))) {
            try await WebSocketClient.connect(
                url: target,
                configuration: .init(maxFrameSize: 8 << 20, additionalHeaders: headers, closeTimeout: .seconds(1),
                                      // WebSocket pings, which every WebSocket library answers: they watch a link
                                      // to a backend that never answers our `ping` (KeepAlive), and confirm
                                      // what such a backend has read (OriginalDelivery).
                                      autoPing: .enabled(timePeriod: Self.webSocketPingPeriod(self.configuration))),
                tlsConfiguration: self.tls,
                logger: clientLogger
            ) { inbound, outbound, _ in
                // Cancelling the connection's task once upgraded closes its input (swift-websocket's
                // handler does so), which ends the session's reader.
                guard dial.upgraded(closeSession: { dial.abort() }) else { return }
                self.closeCurrent.withLock { $0 = AsyncCallback { try? await outbound.close(.normalClosure, reason: "disconnect") } }
                try await session.run(channel: WebSocketChannel(inbound: inbound, outbound: outbound), abort: { dial.abort() }) { peer in
                    connected.withLock { $0 = true }
                    self.engine.metrics.connected(after: ContinuousClock.now - started)
                    self.machine.withLock { $0.handshakeCompleted() }
                    self.publish()
                    var metadata: JSONObject = ["collections": .array(self.configuration.collections.map { .string($0) })]
                    if case .legacy = peer { metadata["protocol"] = "original" }
                    self.logger.info("realtime link connected", metadata: ["synclayer.url": "\(target)",
                                                                           "synclayer.protocol": "\(self.engine.dialectName)"])
                    self.engine.emit(.realtimeConnected, metadata: metadata)
                    self.engine.emit(.connectivityChanged, metadata: ["realtime": true])
                    // No poll here: the session itself sends the outbox and receives the catch-up.
                    // Against a backend of the original protocol the session asks for the poll itself.
                }
            }
        }
    }
}
