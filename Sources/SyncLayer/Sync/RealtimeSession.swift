#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import WSCore
import SyncCore
import SyncStore

/// One realtime connection from handshake to end: `hello` and subscriptions first, then, at the same
/// time, the inbound frames applied in order, the outbox and new local changes sent, and pings with
/// dead-link detection. Ends when the server closes, the link goes silent, or the node stops.
final class RealtimeSession: Sendable {
    /// What the handshake found.
    enum Peer: Sendable {
        /// Our server: its id and what it holds.
        case ours(server: NodeID, vector: VersionVector)
        /// A backend of the original protocol only.
        case legacy
    }

    /// Why a session ended.
    struct LinkDead: Error {}

    let engine: SyncEngine
    let configuration: SyncConfiguration
    let logger: Logger
    let handshake = Promise<Peer>()
    private let codec = FrameCodec(maxFrameBytes: 8 << 20, maxDepth: 32, maxBatchCount: 10_000)

    init(engine: SyncEngine, configuration: SyncConfiguration, logger: Logger) {
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs the session on an open WebSocket; `onHandshake` is called once the link is usable.
    ///
    /// `abort` closes the connection's input: reading a socket ends on neither cancellation nor a
    /// close frame the other side never answers, so a session that ends calls it to stop its reader.
    func run(channel: some MessageChannel, abort: @escaping @Sendable () -> Void = {},
             onHandshake: @escaping @Sendable (Peer) -> Void) async throws {
        let local = engine.attachLiveSession()
        defer {
            engine.detachLiveSession()
            handshake.abandon()
        }
        let position = try await engine.serverPosition()
        let sentAt = engine.wallClock.nowMillis()
        let hello = Hello(nodeID: engine.nodeID, vector: try await engine.vector(),
                          cursor: position.server == nil ? nil : position.cursor, cursorOwner: position.server,
                          time: sentAt, collections: configuration.collections)
        try await channel.write(.text(codec.encodeString(.hello(hello))))
        for collection in configuration.collections {
            try await channel.write(.text(codec.encodeString(.subscribe(collection: collection))))
        }
        let keepAlive = Locked(KeepAlive(interval: configuration.pingInterval, now: monotonicNanos()))
        try await withThrowingTaskGroup(of: Loop.self) { group in
            group.addTask { try await self.readLoop(channel, keepAlive: keepAlive, helloSentAt: sentAt, onHandshake: onHandshake); return .reader }
            group.addTask { try await self.keepAliveLoop(channel, keepAlive: keepAlive); return .keepAlive }
            group.addTask { try await self.sendLoop(channel, local: local); return .sender }
            group.addTask { try await self.gatewayLoop(channel); return .gateway }
            // Any loop but the gateway's ends the session. Cancellation (the node stops) ends the
            // sender and the keep-alive; the reader ends only when the input is closed (abort).
            do {
                while let ended = try await group.next(), ended == .gateway {}
            } catch {
                group.cancelAll()
                if Task.isCancelled { try? await channel.close(.goingAway, reason: "the node is stopping") }
                abort()
                throw error
            }
            group.cancelAll()
            if Task.isCancelled { try? await channel.close(.goingAway, reason: "the node is stopping") }
            abort()
        }
    }

    /// The session's concurrent loops.
    private enum Loop {
        case reader, keepAlive, sender, gateway
    }

    // MARK: Inbound

    private func readLoop(_ channel: some MessageChannel, keepAlive: Locked<KeepAlive>, helloSentAt: UInt64,
                          onHandshake: @escaping @Sendable (Peer) -> Void) async throws {
        var server: NodeID?
        for try await message in channel.messages(maxSize: 8 << 20) {
            keepAlive.withLock { $0.received(at: monotonicNanos()) }
            let frame: Frame
            do {
                frame = try codec.decode(message)
            } catch {
                engine.metrics.update { $0.framesRejected += 1 }
                logger.debug("dropped a bad frame from the server", metadata: ["synclayer.error": "\(error)"])
                continue
            }
            switch frame {
            case .hello(let hello):
                guard handshake.current == nil else { continue }
                server = hello.nodeID
                if let time = hello.time {
                    try await engine.observeServerClock(serverMillis: time, sentAt: helloSentAt, receivedAt: engine.wallClock.nowMillis())
                }
                try await engine.rememberServer(hello.nodeID)
                let peer = Peer.ours(server: hello.nodeID, vector: hello.vector)
                engine.learnDialect(.helloAnswered)
                handshake.fulfill(peer)
                onHandshake(peer)
            case .error(let error):
                if handshake.current == nil, error.code == .invalidMessage {
                    // A backend of the original protocol refused our hello: speak its protocol.
                    engine.learnDialect(.helloRefused)
                    handshake.fulfill(.legacy)
                    onHandshake(.legacy)
                } else if error.code == .authFailed {
                    engine.emit(.error, error: error.description)
                    throw error
                } else {
                    engine.metrics.recordError(error.description)
                    engine.emit(.error, error: error.description)
                }
            case .change(let message):
                // From our server, or relayed as it was sent by a node of ours through a legacy backend.
                try await engine.applyFromServer([message], cursor: message.serverSeq, server: server, realtime: true)
            case .changes(let batch):
                try await engine.applyFromServer(batch.changes, cursor: batch.cursor, server: server, realtime: true)
                if !batch.changes.isEmpty { engine.emit(.realtimeSync, metadata: ["changes": .int(Int64(batch.changes.count))]) }
            case .ack(let ack):
                try await engine.acknowledge(ack, server: server)
            case .sync(let collection, let records):
                let messages = records.map { record in
                    ChangeMessage(kind: .insert, collection: collection, recordID: record.id, data: record.data,
                                  timestamp: record.updatedAt, metadata: [:])
                }
                try await engine.applyLegacy(messages, realtime: true)
                engine.emit(.realtimeSync, collection: collection, metadata: ["records": .int(Int64(records.count))])
            case .pong, .subscribed, .unsubscribed, .authenticated, .ping, .subscribe, .unsubscribe, .auth, .peerHello, .relay:
                break
            }
        }
    }

    // MARK: Outbound

    private func sendLoop(_ channel: some MessageChannel, local: AsyncStream<[Change]>) async throws {
        guard let peer = await handshake.value else { return }
        if case .ours(_, let vector) = peer {
            // Ours now; other origins' (a mesh node's) after the gateway's wait (gatewayLoop).
            try await send(engine.uploadPolicy.atHandshake(try await engine.outboxForServer(vector: vector, limit: 100_000)), channel)
        } else {
            engine.pollNow.signal()
        }
        for await changes in local {
            if case .legacy = peer {
                // A backend of the original protocol stores what arrives last and answers nothing on
                // the WebSocket: send each change once, over REST (the poller, now), where a 2xx is
                // the acknowledgement. The WebSocket only receives.
                engine.pollNow.signal()
                continue
            }
            try await send(changes, channel)
        }
    }

    /// Sends changes to the server: one as a `change` frame (the original protocol's), more in
    /// `changes` batches of at most 500.
    private func send(_ unsigned: [Change], _ channel: some MessageChannel) async throws {
        let signer = engine.signer
        let changes = unsigned.map(signer.signingOwn)
        if changes.count == 1, let change = changes.first {
            try await channel.write(.text(codec.encodeString(.change(ChangeMessage(change)))))
            return
        }
        var pending = changes[...]
        while !pending.isEmpty {
            let batch = pending.prefix(500)
            pending.removeFirst(batch.count)
            try await channel.write(.text(codec.encodeString(.changes(ChangeBatch(changes: batch.map { ChangeMessage($0) })))))
        }
    }

    /// On a mesh node, uploads what is still waiting of other origins once the server has stopped
    /// delivering them: this node is then their gateway (the rule and its waits are
    /// ``UploadPolicy/Gateway``). Returns when the gateway's job is done.
    private func gatewayLoop(_ channel: some MessageChannel) async throws {
        guard configuration.mesh != nil, case .ours(_, let vector)? = await handshake.value else { return }
        let policy = engine.uploadPolicy
        func othersWaiting() async throws -> [Change] {
            policy.foreign(try await engine.outboxForServer(vector: vector, limit: 100_000))
        }
        var gateway = policy.gateway(waiting: try await othersWaiting().count, now: monotonicNanos())
        var decision = gateway.first
        while true {
            switch decision {
            case .done:
                return
            case .wait(let until):
                let now = monotonicNanos()
                if until > now { try await Task.sleep(for: .nanoseconds(Int64(until - now))) }
                decision = gateway.next(foreignWaiting: try await othersWaiting().count, now: monotonicNanos())
            case .upload:
                let foreign = try await othersWaiting()
                logger.info("uploading changes of other nodes as their gateway", metadata: ["synclayer.changes": "\(foreign.count)"])
                try await send(foreign, channel)
                return
            }
        }
    }

    // MARK: Keep-alive

    private func keepAliveLoop(_ channel: some MessageChannel, keepAlive: Locked<KeepAlive>) async throws {
        // A server of ours answers hello at once; only a backend of the original protocol stays silent.
        try await keepAlive.run(
            handshakeDeadline: monotonicNanos() + UInt64(max(configuration.pingInterval * 2, .seconds(5)).nanosecondsValue),
            handshakeDone: { handshake.current != nil },
            handshakeExpired: {
                // No answer to hello: a backend of the original protocol that ignores unknown frames.
                engine.learnDialect(.helloUnanswered)
                handshake.fulfill(.legacy)
            },
            ping: { try await channel.write(.text(codec.encodeString(.ping(time: engine.wallClock.nowMillis())))) })
        logger.info("the realtime link is silent for two ping intervals: closing it")
        try? await channel.close(.goingAway, reason: "no answer to pings")
        throw LinkDead()
    }
}
