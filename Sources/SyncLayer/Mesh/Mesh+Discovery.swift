import Logging
import SyncDiscovery
import SyncCore

/// The discovery adapter: advertises this node on the LAN through Avahi, browses for its team's
/// peers and hands what it finds to the dialers. Its state is ``DiscoveryState``.
extension Mesh {
    func runDiscovery() async {
        guard let port = await listening.value else { return }
        state.withLock { $0.discovery = .starting }
        var warned = false
        while !Task.isCancelled {
            let advertisement = ServiceAdvertisement(
                instanceName: configuration.instanceName ?? "synclayer-\(nodeID.rawValue.prefix(12))", port: UInt16(port),
                nodeID: nodeID.rawValue, protocolVersion: "1", teamID: configuration.teamID, hasUplink: hasUplink)
            let discovery = AvahiDiscovery(advertisement: advertisement, ipFamily: .ipv4, logger: logger)
            do {
                try discovery.start()
            } catch {
                state.withLock { $0.discovery = .unavailable(error.message) }
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
                $0.discovery = .running
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

    /// Where to dial a peer discovery found: its node id and `ws://ADDRESS:PORT/mesh` by resolved
    /// address (an IPv6 address in brackets); `nil` for another team, this node itself, or a TXT
    /// record whose node id is not valid.
    static func dialTarget(for found: DiscoveredPeer, team: String, ownID: NodeID) -> (NodeID, String)? {
        guard found.teamID == team, let peer = NodeID(found.nodeID), peer != ownID else { return nil }
        let host = found.address.contains(":") ? "[\(found.address)]" : found.address
        return (peer, "ws://\(host):\(found.port)/mesh")
    }

    private func handle(_ event: DiscoveryEvent) {
        switch event {
        case .published(let name):
            // Already `running` since the daemon answered (see runDiscovery).
            logger.info("advertised on the LAN", metadata: ["synclayer.mesh.name": "\(name)"])
        case .peerFound(let found):
            guard let (peer, url) = Self.dialTarget(for: found, team: configuration.teamID, ownID: nodeID) else { return }
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
            state.withLock { $0.discovery = .unavailable(why) }
            logger.warning("the Avahi daemon went away: known links stay up, discovery resumes when it returns")
        case .daemonRestored:
            state.withLock { $0.discovery = .running }
            logger.info("the Avahi daemon is back")
        }
    }
}
