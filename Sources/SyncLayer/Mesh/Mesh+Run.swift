#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import SyncDiscovery
import WSClient
import SyncCore

extension Mesh {
    /// Runs the mesh until the task is cancelled: the peer listener, discovery (advertise, browse,
    /// resolve), the dialers (discovered and static peers), the uplink watcher and the periodic
    /// state exchange.
    func run(uplinkStates: AsyncStream<Bool>) async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                do {
                    try await self.runListener()
                } catch {
                    self.logger.error("the mesh listener stopped", metadata: ["synclayer.error": "\(error)"])
                }
                self.listening.abandon()
            }
            if configuration.discovery { group.addTask { await self.runDiscovery() } }
            group.addTask { await self.runDialers() }
            group.addTask {
                for await uplink in uplinkStates { await self.setUplink(uplink) }
            }
            group.addTask {
                // Sessions do not end on cancellation by themselves (reading a socket does not):
                // when the node stops, close every link so the listener can finish.
                try? await Task.sleep(for: .seconds(Int64.max / 2))
                self.closeAllLinks()
            }
            group.addTask {
                // Every five heartbeats each peer hears what this node holds and fills its gaps.
                while (try? await Task.sleep(for: self.configuration.heartbeatInterval * 5)) != nil {
                    await self.broadcastState()
                }
            }
        }
    }

    // MARK: Listener

    private func runListener() async throws {
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
                        try await MeshSession(mesh: self, link: link, abort: { channel.close(promise: nil) }).run(inbound: inbound, outbound: outbound)
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

    // MARK: Discovery

    private func runDiscovery() async {
        guard let port = await listening.value else { return }
        state.withLock { $0.discovery = "starting" }
        var warned = false
        while !Task.isCancelled {
            let advertisement = ServiceAdvertisement(
                instanceName: configuration.instanceName ?? "synclayer-\(nodeID.rawValue.prefix(12))", port: UInt16(port),
                nodeID: nodeID.rawValue, protocolVersion: "1", teamID: configuration.teamID, hasUplink: hasUplink)
            let discovery = AvahiDiscovery(advertisement: advertisement, ipFamily: .ipv4, logger: logger)
            do {
                try discovery.start()
            } catch {
                state.withLock { $0.discovery = "unavailable: \(error.message)" }
                if !warned {
                    logger.warning("no Avahi daemon reachable: the mesh runs with static peers only, retrying every 5 s",
                                   metadata: ["synclayer.error": "\(error.message)"])
                    engine.emit(.error, error: "mesh discovery unavailable: \(error.message)")
                    warned = true
                }
                discovery.stop()
                try? await Task.sleep(for: .seconds(5))
                continue
            }
            // Talking to the daemon: browsing runs; our own announcement follows (Avahi probes the
            // name for about a second), and peers may link before it is out.
            state.withLock {
                $0.avahi = discovery
                $0.discovery = "running"
            }
            await withTaskCancellationHandler {
                for await event in discovery.events { handle(event) }
            } onCancel: {
                discovery.stop()
            }
            state.withLock { $0.avahi = nil }
            return
        }
    }

    private func handle(_ event: DiscoveryEvent) {
        switch event {
        case .published(let name):
            // Already `running` since the daemon answered (see runDiscovery).
            logger.info("advertised on the LAN", metadata: ["synclayer.mesh.name": "\(name)"])
        case .peerFound(let found):
            guard found.teamID == configuration.teamID, let peer = NodeID(found.nodeID), peer != nodeID else { return }
            let host = found.address.contains(":") ? "[\(found.address)]" : found.address
            let url = "ws://\(host):\(found.port)/mesh"
            let isNew = state.withLock { state in
                defer { state.discovered[peer] = url }
                return state.discovered[peer] == nil
            }
            if isNew {
                engine.emit(.peerDiscovered, metadata: ["peer": .string(peer.rawValue), "address": .string(found.address),
                                                        "port": .int(Int64(found.port)), "uplink": .bool(found.hasUplink)])
            }
            dialWakeup.signal()
            retryDialsNow()
        case .peerRemoved(let id):
            guard let peer = NodeID(id) else { return }
            state.withLock { _ = $0.discovered.removeValue(forKey: peer) }
        case .daemonUnavailable(let why):
            state.withLock { $0.discovery = "unavailable: \(why)" }
            logger.warning("the Avahi daemon went away: known links stay up, discovery resumes when it returns")
        case .daemonRestored:
            state.withLock { $0.discovery = "running" }
            logger.info("the Avahi daemon is back")
        }
    }

    // MARK: Dialers

    /// A peer to dial: a static URL, or a discovered node.
    struct DialTarget: Hashable, Sendable {
        let url: String?
        let peer: NodeID?
        var key: String { url.map { "static:\($0)" } ?? "peer:\(peer?.rawValue ?? "")" }
    }

    /// Starts one dial loop per target (static peers, discovered peers); each ends when its target
    /// is gone or the mesh stops.
    private func runDialers() async {
        _ = await listening.value
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                var targets = configuration.staticPeers.map { DialTarget(url: $0.hasSuffix("/mesh") ? $0 : $0 + "/mesh", peer: nil) }
                targets += state.withLock { Array($0.discovered.keys) }.map { DialTarget(url: nil, peer: $0) }
                for target in targets {
                    let retry = state.withLock { state -> Wakeup? in
                        guard state.dialing[target.key] == nil else { return nil }
                        let retry = Wakeup()
                        state.dialing[target.key] = retry
                        return retry
                    }
                    if let retry {
                        group.addTask {
                            await self.dialLoop(target, retry: retry)
                            _ = self.state.withLock { $0.dialing.removeValue(forKey: target.key) }
                        }
                    }
                }
                await dialWakeup.wait(timeout: configuration.heartbeatInterval)
            }
        }
    }

    /// Dials `target` until it is gone, backing off after failures (200 ms doubling to 5 s, back to
    /// 200 ms after a link that lasted 10 s or when `retry` is signalled: see `retryDialsNow`).
    private func dialLoop(_ target: DialTarget, retry: Wakeup) async {
        var backoff = Duration.milliseconds(200)
        let heartbeat = configuration.heartbeatInterval
        if let peer = target.peer, peer < nodeID {
            // The smaller node id's link is the one both sides keep; give it a short head start.
            // Not longer: a node that just started is still announcing itself (Avahi probes its
            // name for about a second), so the smaller one may not see it yet. Whoever links first,
            // the other finds the peer linked and does not dial; simultaneous links are deduplicated.
            try? await Task.sleep(for: .milliseconds(Int.random(in: 50...150)))
        }
        while !Task.isCancelled {
            let (url, peer) = state.withLock { state -> (String?, NodeID?) in
                if let id = target.peer { return (state.discovered[id], id) }
                return (target.url, target.url.flatMap { state.staticPeerIDs[$0] })
            }
            guard let url else { return }
            if let peer, isLinked(peer) {
                try? await Task.sleep(for: heartbeat)
                continue
            }
            if linkCount >= configuration.maxLinks {
                try? await Task.sleep(for: heartbeat)
                continue
            }
            let started = ContinuousClock.now
            let linked = await dial(url)
            if let linked, target.url != nil { state.withLock { $0.staticPeerIDs[url] = linked } }
            backoff = ContinuousClock.now - started > .seconds(10) ? .milliseconds(200) : min(backoff * 2, .seconds(5))
            let jitter = Duration.milliseconds(Int.random(in: 0...100))
            if await retry.wait(timeout: backoff + jitter) { backoff = .milliseconds(200) }
        }
    }

    /// Opens one outbound link and runs it until it ends; returns the peer's node id when a
    /// handshake happened. Cancellation closes the link (the connect itself runs in its own task,
    /// as cancelling swift-websocket's connect half-way leaves its socket open).
    private func dial(_ url: String) async -> NodeID? {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let address = URL(string: url)?.host ?? url
        let current = Locked<MeshLink?>(nil)
        let abandoned = Locked(false)
        let cancelConnection = Locked<(@Sendable () -> Void)?>(nil)
        let connection = Task {
            try await WebSocketClient.connect(
                url: url, configuration: .init(maxFrameSize: 8 << 20, closeTimeout: .seconds(1), autoPing: .disabled), logger: quiet
            ) { inbound, outbound, _ in
                guard !abandoned.withLock({ $0 }), let link = self.openLink(direction: .outbound, address: address) else { return }
                current.withLock { $0 = link }
                if abandoned.withLock({ $0 }) { link.finish() }
                // Cancelling the connection's task once upgraded closes its input.
                try await MeshSession(mesh: self, link: link, abort: { cancelConnection.withLock { $0 }?() })
                    .run(inbound: inbound, outbound: outbound)
            }
        }
        cancelConnection.withLock { $0 = { connection.cancel() } }
        await withTaskCancellationHandler {
            do {
                // A peer that accepts TCP but never completes the upgrade is given up after two
                // heartbeats (the session's own deadline takes over once upgraded).
                _ = try await awaitDetached(connection, abandonAfter: max(configuration.heartbeatInterval * 2, .milliseconds(500))) {
                    current.withLock { $0 } == nil
                }
            } catch {
                abandoned.withLock { $0 = true }
                current.withLock { $0 }?.finish()
                logger.debug("outbound mesh link ended", metadata: ["synclayer.peer.url": "\(url)", "synclayer.error": "\(error)"])
            }
        } onCancel: {
            abandoned.withLock { $0 = true }
            current.withLock { $0 }?.finish()
        }
        return current.withLock { $0 }?.peer?.nodeID
    }
}
