#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOPosix
import WSClient
import SyncCore

/// The dialers: one loop per peer to dial (static peers and discovered ones), each opening
/// outbound links and backing off after failures.
extension Mesh {
    /// A peer to dial: a static URL, or a discovered node.
    struct DialTarget: Hashable, Sendable {
        let url: String?
        let peer: NodeID?
        var key: String { url.map { "static:\($0)" } ?? "peer:\(peer?.rawValue ?? "")" }
    }

    /// Starts one dial loop per target (static peers, discovered peers); each ends when its target
    /// is gone or the mesh stops.
    func runDialers() async {
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

    /// Dials `target` until it is gone, backing off after failures (``DialBackoff``; `retry` is
    /// signalled by `retryDialsNow`).
    private func dialLoop(_ target: DialTarget, retry: Wakeup) async {
        var backoff = DialBackoff()
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
            let wait = backoff.attemptEnded(after: ContinuousClock.now - started)
            let jitter = Duration.milliseconds(Int.random(in: 0...100))
            if await retry.wait(timeout: wait + jitter) { backoff.reset() }
        }
    }

    /// Opens one outbound link and runs it until it ends; returns the peer's node id when a
    /// handshake happened. A peer that accepts TCP but never completes the upgrade is given up after
    /// two heartbeats (the session's own deadline takes over once upgraded); cancellation ends the
    /// link (``WebSocketDial``).
    private func dial(_ url: String) async -> NodeID? {
        var quietLogger = logger
        quietLogger.logLevel = max(logger.logLevel, .warning)
        let quiet = quietLogger
        let address = URL(string: url)?.host ?? url
        let linked = Locked<MeshLink?>(nil)
        let dial = WebSocketDial()
        // The connection's loop, chosen here so the session can wait on it (`MessageChannel.written()`).
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        do {
            try await dial.run(upgradeDeadline: max(configuration.heartbeatInterval * 2, .milliseconds(500))) {
                try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: 8 << 20, closeTimeout: .seconds(1), autoPing: .disabled),
                    eventLoopGroup: eventLoop, logger: quiet
                ) { inbound, outbound, _ in
                    guard let link = self.openLink(direction: .outbound, address: address) else { return }
                    guard dial.upgraded(closeSession: { link.finish() }) else {
                        self.closeLink(link)
                        return
                    }
                    linked.withLock { $0 = link }
                    // Cancelling the connection's task once upgraded closes its input.
                    try await MeshSession(mesh: self, link: link, abort: { dial.abort() })
                        .run(connection: WebSocketChannel(inbound: inbound, outbound: outbound, eventLoop: eventLoop))
                }
            }
        } catch {
            logger.debug("outbound mesh link ended", metadata: ["synclayer.peer.url": "\(url)", "synclayer.error": "\(error)"])
        }
        return linked.withLock { $0 }?.peer?.nodeID
    }
}
