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
        var table = LinkTable()
        var uplink = false
        var port = 0
        var discovery = DiscoveryState.off
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
    let relayPolicy: RelayPolicy
    /// Wakes the dialers when a link ends or a peer is found.
    let dialWakeup = Wakeup()
    let listening = Promise<Int>()

    init(engine: SyncEngine, configuration: MeshConfiguration, logger: Logger) {
        self.engine = engine
        self.configuration = configuration
        self.nodeID = engine.nodeID
        self.logger = logger
        relayPolicy = RelayPolicy(hopLimit: configuration.hopLimit)
    }

    // MARK: Status

    var status: MeshStatus {
        state.withLock { state in
            let peers = state.table.byPeer.values.compactMap { link -> PeerStatus? in
                guard let peer = link.peer else { return nil }
                return PeerStatus(nodeID: peer.nodeID, uplink: peer.uplink, address: link.address, direction: link.direction, since: peer.since,
                                  encrypted: configuration.teamSecret != nil, changesSent: link.changesSent.load(ordering: .relaxed),
                                  changesReceived: link.changesReceived.load(ordering: .relaxed))
            }.sorted { $0.nodeID < $1.nodeID }
            return MeshStatus(port: state.port, teamID: configuration.teamID, uplink: state.uplink, discovery: state.discovery.description, peers: peers)
        }
    }

    var hasUplink: Bool { state.withLock { $0.uplink } }

    func isLinked(_ peer: NodeID) -> Bool { state.withLock { $0.table.byPeer[peer] != nil } }

    var linkCount: Int { state.withLock { $0.table.links.count } }

    // MARK: Links

    /// A new connection, before its handshake.
    func openLink(direction: PeerStatus.Direction, address: String) -> MeshLink? {
        state.withLock { state in
            state.table.open(direction: direction, address: address, limit: configuration.maxLinks + 2,
                             queueLimit: configuration.linkQueueLimit, deferGrace: configuration.gatewayGrace)
        }
    }

    /// Queues `hello` for `link`, saying this node's uplink as it is when queued. Read and queued
    /// under the state's lock, the lock ``setUplink(_:)`` changes it under: a hello built before a
    /// change (its vector is read with awaits) but queued after it cannot tell the peer the old
    /// uplink last.
    func sendHello(_ hello: PeerHello, on link: MeshLink) {
        state.withLock { state in
            var hello = hello
            hello.uplink = state.uplink
            link.send(.peerHello(hello))
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
        if hello.wantsReply { sendHello(try await ownHello(wantsReply: false), on: link) }
        guard shouldRelay(to: link) else { return }
        // At most half the link's bound at a time, so a peer far behind is not dropped by its own
        // catch-up (the rest of the bound is for live changes). When there may be more, a
        // `peerHello` asking for a reply follows the changes: the peer answers it after applying
        // them (it reads in order), with its new vector, and that answer brings the next part.
        let part = max(1, configuration.linkQueueLimit / 2)
        let lacking = try await engine.changes(missingFrom: hello.vector, limit: part)
        let missing = lacking.filter { engine.syncedCollections.contains($0.change.collection) }
        let sent = relay(missing, to: link, hops: 1, sentTo: [])
        // Nothing sent now (filtered out, or deferred for a gateway) leaves the peer's vector where it
        // is: asking again would only loop. The periodic `peerHello` carries on from there.
        if lacking.count == part, sent > 0 { sendHello(try await ownHello(wantsReply: true), on: link) }
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
        link.changesReceived.add(batch.changes.count, ordering: .relaxed)
        guard batch.hops <= configuration.hopLimit else { return }
        let applied = try await engine.applyFromPeer(batch.changes, peer: peer)
        guard !applied.isEmpty else { return }
        engine.sendToServer(engine.uploadPolicy.fromPeer(applied, ownUplink: hasUplink))
        forward(applied, hops: batch.hops + 1, except: Set(batch.sentTo).union([peer]))
    }

    /// Registers a link under its peer's id (the rules are ``LinkTable``'s).
    private func register(_ link: MeshLink, peer: NodeID) throws {
        let registration = state.withLock { $0.table.register(link, peer: peer, ownID: nodeID, maxLinks: configuration.maxLinks) }
        switch registration {
        case .registered: break
        case .replaced(let dropped): dropped.finish()
        case .refused(let reason): throw Refusal(description: reason)
        }
    }

    /// Closes every link (the node stops).
    func closeAllLinks() {
        let links = state.withLock { Array($0.table.links.values) }
        for link in links { link.finish() }
    }

    /// The connection ended.
    func closeLink(_ link: MeshLink) {
        let lost = state.withLock { $0.table.close(link) }
        link.finish()
        if let lost {
            logger.info("peer link closed", metadata: ["synclayer.peer": "\(lost)"])
            engine.emit(.peerLost, metadata: ["peer": .string(lost.rawValue)])
        }
        dialWakeup.signal()
    }

    // MARK: Relay

    /// What the relay rule knows of a link's peer; `nil` before its `peerHello`.
    private func policyPeer(_ link: MeshLink) -> RelayPolicy.Peer? {
        link.peer.map { RelayPolicy.Peer(nodeID: $0.nodeID, uplink: $0.uplink, vector: $0.vector) }
    }

    /// Whether changes go over this link: not when both ends reach the server.
    func shouldRelay(to link: MeshLink) -> Bool {
        guard let peer = link.peer else { return false }
        return RelayPolicy.relays(ownUplink: hasUplink, peerUplink: peer.uplink)
    }

    /// Passes changes new to this node on to the peers the relay rule selects.
    func forward(_ changes: [ChangeInTransit], hops: Int, except: Set<NodeID>) {
        guard !changes.isEmpty else { return }
        let (links, ownUplink) = state.withLock { (Array($0.table.byPeer.values), $0.uplink) }
        let linked = links.compactMap { link in policyPeer(link).map { (link: link, peer: $0) } }
        let targets = Set(relayPolicy.targets(linked.map(\.peer), ownUplink: ownUplink, hops: hops, except: except).map(\.nodeID))
        guard !targets.isEmpty else { return }
        let sentTo = Array(targets)
        // This node's own changes are signed here, once, not once per link (`send` leaves signed ones alone).
        let signer = engine.signer
        let signed = changes.map { ChangeInTransit(signer.signingOwn($0.change), acknowledged: $0.acknowledged, serverSeq: $0.serverSeq) }
        for (link, peer) in linked where targets.contains(peer.nodeID) {
            carryOut(relayPolicy.plan(signed, for: peer, ownUplink: ownUplink), on: link, hops: hops, sentTo: sentTo)
        }
    }

    /// Sends a peer what it lacks, right after its `peerHello` (by the same rule); returns how many
    /// changes went out now (others may be deferred).
    private func relay(_ changes: [ChangeInTransit], to link: MeshLink, hops: Int, sentTo: [NodeID]) -> Int {
        guard let peer = policyPeer(link) else { return 0 }
        return carryOut(relayPolicy.plan(changes, for: peer, ownUplink: hasUplink), on: link, hops: hops, sentTo: sentTo)
    }

    @discardableResult
    private func carryOut(_ plan: RelayPolicy.Plan, on link: MeshLink, hops: Int, sentTo: [NodeID]) -> Int {
        send(plan.now, to: link, hops: hops, sentTo: sentTo)
        link.deferRelay(plan.deferred)
        return plan.now.count
    }

    /// Deferred changes whose grace passed: sent if the relay rule still allows, and only what the
    /// peer's latest `peerHello` says it lacks. A peer that misses some meanwhile gets them from the
    /// periodic exchange of vectors.
    func releaseDeferred(_ changes: [ChangeInTransit], to link: MeshLink) {
        guard let peer = policyPeer(link) else { return }
        send(relayPolicy.release(changes, to: peer, ownUplink: hasUplink), to: link, hops: 1, sentTo: [])
    }

    private func send(_ changes: [ChangeInTransit], to link: MeshLink, hops: Int, sentTo: [NodeID]) {
        guard !changes.isEmpty else { return }
        let signer = engine.signer
        for start in stride(from: 0, to: changes.count, by: 500) {
            let slice = changes[start..<min(changes.count, start + 500)]
            link.send(.relay(RelayBatch(changes: slice.map { ChangeMessage(relaying: signer.signingOwn($0.change), acknowledged: $0.acknowledged) },
                                        hops: hops, sentTo: sentTo)))
        }
        engine.metrics.update { $0.changesRelayed += changes.count }
    }

    // MARK: Uplink

    /// This node gained or lost the server: peers hear it (and answer with their state, so each side
    /// sends what the relay rule now lets through). Every open link hears it, also one whose peer
    /// has not said hello yet: its first hello may have been queued before the change, and it
    /// would otherwise learn the new uplink only from the next periodic hello.
    func setUplink(_ uplink: Bool) async {
        let links: [MeshLink]? = state.withLock { state in
            guard state.uplink != uplink else { return nil }
            state.uplink = uplink
            return Array(state.table.links.values)
        }
        guard let links else { return }
        let avahi = state.withLock { $0.avahi }
        do { try avahi?.setUplink(uplink) } catch { logger.debug("could not update the advertised uplink flag", metadata: ["synclayer.error": "\(error)"]) }
        logger.info(uplink ? "server reachable: peers stop relaying to this node" : "server unreachable: relaying over the mesh")
        // The network changed: peers that were unreachable may be back.
        retryDialsNow()
        engine.emit(.connectivityChanged, metadata: ["uplink": .bool(uplink)])
        guard let hello = try? await ownHello(wantsReply: true) else { return }
        for link in links { sendHello(hello, on: link) }
    }

    /// Ends every dial loop's backoff: a peer that failed for a while (and backed off to 5 s) is
    /// tried again now. For when the network changed: the server link came or went, or discovery
    /// heard a peer (again).
    func retryDialsNow() {
        let loops = state.withLock { Array($0.dialing.values) }
        for loop in loops { loop.signal() }
    }

    /// Sends every linked peer this node's state, so gaps left by a lost frame are filled: each
    /// peer sends what this node lacks, and, when `wantsReply`, answers with its own state, which
    /// brings it what it lacks of this node's.
    func broadcastState(wantsReply: Bool = false) async {
        let links = state.withLock { Array($0.table.byPeer.values) }
        guard !links.isEmpty, let hello = try? await ownHello(wantsReply: wantsReply) else { return }
        for link in links { sendHello(hello, on: link) }
    }
}
