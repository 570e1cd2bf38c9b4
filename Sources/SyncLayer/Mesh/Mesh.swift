#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import SyncDiscovery
import Synchronization
import SyncCore
import SyncStore

/// The node's part of the LAN mesh: its links to peers, what each peer holds and whether it reaches
/// the server, and the relay rule. The listener, discovery and dialers are in `Mesh+Run.swift`, one
/// connection's life in `MeshSession.swift`. Design: `Docs/Mesh.md`.
///
/// The relay rule: a change new to this node goes to every linked peer except the one it came from
/// and those the sender already sent it to, unless both this node and the peer reach the server
/// (the server delivers it to both), and only while it has crossed fewer than `hopLimit` links.
final class Mesh: Sendable {
    struct State {
        var links: [UInt64: MeshLink] = [:]
        var byPeer: [NodeID: MeshLink] = [:]
        var uplink = false
        var nextLinkID: UInt64 = 1
        var port = 0
        var discovery = "off"
        /// Discovered peers: where to dial them.
        var discovered: [NodeID: String] = [:]
        /// Static peers' node ids, once a link told us.
        var staticPeerIDs: [String: NodeID] = [:]
        /// Targets that have a dial loop, each with what cuts its backoff short.
        var dialing: [String: Wakeup] = [:]
        /// The running discovery, to update the advertised uplink flag.
        var avahi: AvahiDiscovery?
        /// What peers said the server committed, this node's own origin included (passed on, not
        /// acted on for our own changes).
        var heardAcknowledged = VersionVector()
    }

    let engine: SyncEngine
    let configuration: MeshConfiguration
    let nodeID: NodeID
    let logger: Logger
    let state = Mutex(State())
    let codec = FrameCodec(maxFrameBytes: 8 << 20, maxDepth: 32, maxBatchCount: 10_000)
    /// Wakes the dialers when a link ends or a peer is found.
    let dialWakeup = Wakeup()
    let listening = Promise<Int>()

    init(engine: SyncEngine, configuration: MeshConfiguration, logger: Logger) {
        self.engine = engine
        self.configuration = configuration
        self.nodeID = engine.nodeID
        self.logger = logger
    }

    /// Makes the engine pass every new change (local, or from the server) to the mesh.
    func attach() {
        engine.meshForward.withLock { forward in
            forward = { [weak self] changes in self?.forward(changes, hops: 1, except: []) }
        }
    }

    // MARK: Status

    var status: MeshStatus {
        state.withLock { state in
            let peers = state.byPeer.values.compactMap { link -> PeerStatus? in
                guard let peer = link.peer else { return nil }
                return PeerStatus(nodeID: peer.nodeID, uplink: peer.uplink, address: link.address, direction: link.direction, since: peer.since)
            }.sorted { $0.nodeID < $1.nodeID }
            return MeshStatus(port: state.port, teamID: configuration.teamID, uplink: state.uplink, discovery: state.discovery, peers: peers)
        }
    }

    var hasUplink: Bool { state.withLock { $0.uplink } }

    func isLinked(_ peer: NodeID) -> Bool { state.withLock { $0.byPeer[peer] != nil } }

    var linkCount: Int { state.withLock { $0.links.count } }

    // MARK: Links

    /// A new connection, before its handshake.
    func openLink(direction: PeerStatus.Direction, address: String) -> MeshLink? {
        state.withLock { state in
            guard state.links.count < configuration.maxLinks + 2 else { return nil }
            defer { state.nextLinkID += 1 }
            let link = MeshLink(id: state.nextLinkID, direction: direction, address: address, queueLimit: configuration.linkQueueLimit)
            state.links[link.id] = link
            return link
        }
    }

    /// This node's state, as sent to peers.
    func ownHello(wantsReply: Bool) async throws -> PeerHello {
        var acknowledged = try await engine.acknowledgedVector()
        acknowledged.formUnion(state.withLock { $0.heardAcknowledged })
        return PeerHello(nodeID: nodeID, team: configuration.teamID, uplink: hasUplink, vector: try await engine.vector(),
                         wantsReply: wantsReply, acknowledged: acknowledged)
    }

    /// The peer's `peerHello`: the first one registers the link (refused when it is of another
    /// team, ourselves, a duplicate of a link kept instead, or over the cap); each one updates what
    /// the peer holds and, when the relay rule allows, sends it what it lacks.
    func received(_ hello: PeerHello, on link: MeshLink) async throws {
        guard hello.team == configuration.teamID else { throw Refusal(description: "peer is of team \"\(hello.team)\", not ours") }
        guard hello.nodeID != nodeID else { throw Refusal(description: "a link to ourselves") }
        if let known = link.peer?.nodeID, known != hello.nodeID { throw Refusal(description: "the peer changed its node id") }
        let first = link.peer == nil
        let uplinkChanged = link.peer.map { $0.uplink != hello.uplink } ?? false
        let now = engine.wallClock.nowMillis()
        link.update { peer in
            peer = MeshLink.Peer(nodeID: hello.nodeID, uplink: hello.uplink, vector: hello.vector, since: peer?.since ?? now)
        }
        if first {
            try register(link, peer: hello.nodeID)
            logger.info("peer linked", metadata: ["synclayer.peer": "\(hello.nodeID)", "synclayer.peer.address": "\(link.address)",
                                                  "synclayer.peer.uplink": "\(hello.uplink)"])
            engine.emit(.peerConnected, metadata: ["peer": .string(hello.nodeID.rawValue), "address": .string(link.address),
                                                   "uplink": .bool(hello.uplink), "direction": .string(link.direction.rawValue)])
        }
        if uplinkChanged {
            engine.emit(.connectivityChanged, metadata: ["peer": .string(hello.nodeID.rawValue), "uplink": .bool(hello.uplink)])
        }
        try await learnAcknowledgements(hello.acknowledged)
        if hello.wantsReply { link.send(.peerHello(try await ownHello(wantsReply: false))) }
        guard shouldRelay(to: link) else { return }
        let missing = try await engine.changes(missingFrom: hello.vector, limit: 1_000_000)
            .filter { engine.syncedCollections.contains($0.change.collection) }
        relay(missing, to: link, peerUplink: hello.uplink, hops: 1, sentTo: [])
    }

    /// What a peer knows the server committed (a gateway hears the server's acks): changes of
    /// *other* origins up to there leave this node's outbox, so it does not upload them again. Never
    /// this node's own: those leave the outbox only on the server's word, so a peer that lies cannot
    /// make this node's writes get lost. All of it is passed on in this node's own `peerHello`, so
    /// it crosses several hops (a relay's own origin included).
    private func learnAcknowledgements(_ acknowledged: VersionVector) async throws {
        guard acknowledged != VersionVector() else { return }
        state.withLock { $0.heardAcknowledged.formUnion(acknowledged) }
        let mine = try await engine.acknowledgedVector()
        var ranges: [NodeID: [ClosedRange<UInt64>]] = [:]
        for (origin, through) in acknowledged.entries where origin != nodeID && through > mine[origin] {
            ranges[origin] = [(mine[origin] + 1)...through]
        }
        try await engine.serverHolds(ranges)
    }

    /// Changes a peer relayed: applied, then passed on by the relay rule, and to the server when
    /// this node reaches it (the gateway's upward half).
    func received(_ batch: RelayBatch, on link: MeshLink) async throws {
        guard let peer = link.peer?.nodeID else { throw Refusal(description: "relay before peerHello") }
        guard batch.hops <= configuration.hopLimit else { return }
        let applied = try await engine.applyFromPeer(batch.changes, peer: peer)
        guard !applied.isEmpty else { return }
        if hasUplink { engine.sendToServer(applied.filter { !$0.acknowledged }.map(\.change)) }
        forward(applied, hops: batch.hops + 1, except: Set(batch.sentTo).union([peer]))
    }

    /// Registers a link under its peer's id; a second link to the same peer keeps the one opened by
    /// the smaller node id (both sides decide alike), and the cap counts registered links.
    private func register(_ link: MeshLink, peer: NodeID) throws {
        let dropped: MeshLink? = try state.withLock { state in
            if let existing = state.byPeer[peer], existing.id != link.id {
                let smaller = min(nodeID, peer)
                func dialer(_ candidate: MeshLink) -> NodeID { candidate.direction == .outbound ? nodeID : peer }
                if dialer(existing) == smaller || dialer(link) != smaller {
                    throw Refusal(description: "already linked to \(peer)")
                }
                state.byPeer[peer] = link
                return existing
            }
            guard state.byPeer.count < configuration.maxLinks else {
                throw Refusal(description: "this node has its maximum of \(configuration.maxLinks) links")
            }
            state.byPeer[peer] = link
            return nil
        }
        dropped?.finish()
    }

    /// Closes every link (the node stops).
    func closeAllLinks() {
        let links = state.withLock { Array($0.links.values) }
        for link in links { link.finish() }
    }

    /// The connection ended.
    func closeLink(_ link: MeshLink) {
        let lost: NodeID? = state.withLock { state in
            state.links[link.id] = nil
            guard let peer = link.peer?.nodeID, state.byPeer[peer]?.id == link.id else { return nil }
            state.byPeer[peer] = nil
            return peer
        }
        link.finish()
        if let lost {
            logger.info("peer link closed", metadata: ["synclayer.peer": "\(lost)"])
            engine.emit(.peerLost, metadata: ["peer": .string(lost.rawValue)])
        }
        dialWakeup.signal()
    }

    // MARK: Relay

    /// Whether changes go over this link: not when both ends reach the server.
    func shouldRelay(to link: MeshLink) -> Bool {
        guard let peer = link.peer else { return false }
        return !(hasUplink && peer.uplink)
    }

    /// Passes changes new to this node on to the peers the relay rule selects.
    func forward(_ changes: [RemoteChange], hops: Int, except: Set<NodeID>) {
        guard !changes.isEmpty, hops <= configuration.hopLimit else { return }
        let targets: [MeshLink] = state.withLock { state in
            state.byPeer.values.filter { link in
                guard let peer = link.peer, !except.contains(peer.nodeID) else { return false }
                return !(state.uplink && peer.uplink)
            }
        }
        guard !targets.isEmpty else { return }
        let sentTo = targets.compactMap { $0.peer?.nodeID }
        for link in targets {
            guard let peer = link.peer else { continue }
            let fresh = changes.filter { $0.change.id.seq > peer.vector[$0.change.id.origin] }
            relay(fresh, to: link, peerUplink: peer.uplink, hops: hops, sentTo: sentTo)
        }
    }

    /// Sends `changes` to a peer the relay rule selected; when this node is the peer's way to the
    /// server, what the server already holds waits a moment (``relayLater``).
    private func relay(_ changes: [RemoteChange], to link: MeshLink, peerUplink: Bool, hops: Int, sentTo: [NodeID]) {
        if hasUplink && !peerUplink {
            send(changes.filter { !$0.acknowledged }, to: link, hops: hops, sentTo: sentTo)
            relayLater(changes.filter(\.acknowledged), to: link, hops: hops, sentTo: sentTo)
        } else {
            send(changes, to: link, hops: hops, sentTo: sentTo)
        }
    }

    /// Changes the server holds, for a peer that does not reach it: sent after `gatewayGrace`, and
    /// only if the peer still does not reach the server by then (with what its latest `peerHello`
    /// says it holds left out). After a heal every node reconnects at once, and a peer's uplink flag
    /// turns true only once its own link is up: relayed at once, the server's catch-up went over
    /// the mesh to nodes that were about to receive it from the server (19 copies per change, nearly
    /// all already held, in the 20-node heal benchmark). A peer cut off for good gets them one grace
    /// later; any it misses meanwhile it gets from the periodic exchange of vectors.
    private func relayLater(_ changes: [RemoteChange], to link: MeshLink, hops: Int, sentTo: [NodeID]) {
        guard !changes.isEmpty else { return }
        let first = link.heldBack.withLock { pending in
            defer { pending.append(contentsOf: changes) }
            return pending.isEmpty
        }
        guard first else { return }
        let grace = configuration.gatewayGrace
        Task { [weak self] in
            try? await Task.sleep(for: grace)
            let pending = link.heldBack.withLock { pending in
                defer { pending.removeAll() }
                return pending
            }
            guard let self, self.shouldRelay(to: link), let peer = link.peer else { return }
            self.send(pending.filter { $0.change.id.seq > peer.vector[$0.change.id.origin] }, to: link, hops: hops, sentTo: sentTo)
        }
    }

    private func send(_ changes: [RemoteChange], to link: MeshLink, hops: Int, sentTo: [NodeID]) {
        guard !changes.isEmpty else { return }
        for start in stride(from: 0, to: changes.count, by: 500) {
            let slice = changes[start..<min(changes.count, start + 500)]
            let signer = engine.signer
            link.send(.relay(RelayBatch(changes: slice.map { ChangeMessage(relaying: signer.signingOwn($0.change), acknowledged: $0.acknowledged) },
                                        hops: hops, sentTo: sentTo)))
        }
        engine.metrics.update { $0.changesRelayed += changes.count }
    }

    // MARK: Uplink

    /// This node gained or lost the server: peers hear it (and answer with their state, so each side
    /// sends what the relay rule now lets through).
    func setUplink(_ uplink: Bool) async {
        let links: [MeshLink]? = state.withLock { state in
            guard state.uplink != uplink else { return nil }
            state.uplink = uplink
            return state.byPeer.values.map { $0 }
        }
        guard let links else { return }
        let avahi = state.withLock { $0.avahi }
        do { try avahi?.setUplink(uplink) } catch { logger.debug("could not update the advertised uplink flag", metadata: ["synclayer.error": "\(error)"]) }
        logger.info(uplink ? "server reachable: peers stop relaying to this node" : "server unreachable: relaying over the mesh")
        // The network changed: peers that were unreachable may be back.
        retryDialsNow()
        engine.emit(.connectivityChanged, metadata: ["uplink": .bool(uplink)])
        guard let hello = try? await ownHello(wantsReply: true) else { return }
        for link in links { link.send(.peerHello(hello)) }
    }

    /// Ends every dial loop's backoff: a peer that failed for a while (and backed off to 5 s) is
    /// tried again now. For when the network changed: the server link came or went, or discovery
    /// heard a peer (again).
    func retryDialsNow() {
        let loops = state.withLock { Array($0.dialing.values) }
        for loop in loops { loop.signal() }
    }

    /// Sends every linked peer this node's state, so gaps left by a lost frame are filled.
    func broadcastState() async {
        let links = state.withLock { Array($0.byPeer.values) }
        guard !links.isEmpty, let hello = try? await ownHello(wantsReply: false) else { return }
        for link in links { link.send(.peerHello(hello)) }
    }
}
