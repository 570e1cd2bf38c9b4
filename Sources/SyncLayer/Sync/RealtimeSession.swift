#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import WSCore
import SyncCore
import SyncStore

/// One realtime connection from handshake to end: `hello`, a `ping` and subscriptions first, then,
/// at the same time, the inbound frames applied in order, the outbox and new local changes sent, and
/// pings with dead-link detection. Ends when the server closes, the link goes silent, or the node
/// stops.
///
/// Which protocol the backend speaks is decided by its first frame (``DialectProbe``). With a
/// backend of the original protocol the session sends each change as that protocol's frame and,
/// when the backend has no REST routes, decides when it counts as delivered (``OriginalDelivery``).
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

    /// The session took the backend for one of the original protocol, and it answered `hello` after
    /// all: the next session starts in our dialect.
    struct DialectCorrected: Error {}

    /// The backend sent nothing within the probe's wait and its REST route could not tell whether it
    /// is a server of ours: the next session asks again, with nothing written meanwhile.
    struct SilenceUnexplained: Error {}

    /// A backend of the original protocol refused the connection's frames for want of
    /// authentication (`AUTH_FAILED` or `UNAUTHORIZED`), and nothing written to it may count as
    /// delivered: the next session authenticates first, or, without an `authToken`, asks again.
    struct AuthenticationRefused: Error {}

    let engine: SyncEngine
    let configuration: SyncConfiguration
    let logger: Logger
    let handshake = Promise<Peer>()
    /// How long a backend that sends nothing at all is given before it is taken for one of the
    /// original protocol.
    let probeWait: Duration
    /// Asks the backend's REST route whether it is a server of ours (``Poller/probeDialect()``), for
    /// a backend that sent nothing within ``probeWait``; `nil` when the node has no REST base URL.
    let confirmSilence: (@Sendable () async -> DialectEvidence?)?
    private let codec = FrameCodec(maxFrameBytes: 8 << 20, maxDepth: 32, maxBatchCount: 10_000)
    private let probe: Locked<DialectProbe>
    private let delivery: Locked<OriginalDelivery>
    /// Changes an original backend refused (rate limit, server error), to write again.
    private let retry = Locked<[Change]>([])
    private let retryWakeup = Wakeup()
    /// The session ended: no handshake completes any more.
    private let ended = Locked(false)
    /// The session ended on ``AuthenticationRefused``. Told apart here because the error does not
    /// reach the link: ending the session cancels the connection's task, and the WebSocket
    /// library then reports that cancellation instead of the session's error.
    private let refusedLock = Locked(false)
    var wasRefused: Bool { refusedLock.withLock { $0 } }
    /// This connection's half of a frame key (``FrameKey``), offered in `hello`.
    private let keyExchange: FrameKeyExchange
    /// The key the server accepted, from its `hello`: the node's uploads then carry its code instead
    /// of a frame signature, and the server checks no Ed25519 signature for them (`Docs/Security.md`,
    /// "Frame keys"). `nil` with a server that did not answer the offer.
    private let frameKey = Locked<FrameKey?>(nil)

    init(engine: SyncEngine, configuration: SyncConfiguration, logger: Logger, probeWait: Duration = .seconds(5),
         confirmSilence: (@Sendable () async -> DialectEvidence?)? = nil) {
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.probeWait = probeWait
        self.confirmSilence = confirmSilence
        keyExchange = FrameKeyExchange(signer: engine.signer)
        probe = Locked(DialectProbe(deadline: monotonicNanos() + UInt64(probeWait.nanosecondsValue)))
        // Two periods of the WebSocket's own pings, and half of one for scheduling (OriginalDelivery).
        let period = RealtimeLink.webSocketPingPeriod(configuration)
        delivery = Locked(OriginalDelivery(settle: period * 2 + period / 2))
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
            // Unconfirmed: the poller may write them over REST, and the next session sends them again.
            engine.clearInFlightOverWebSocket()
            ended.withLock { $0 = true }
            handshake.abandon()
        }
        let position = try await engine.serverPosition()
        let sentAt = engine.wallClock.nowMillis()
        let keepAlive = Locked(KeepAlive(interval: configuration.pingInterval, now: monotonicNanos(), rule: .unansweredPings))
        if engine.originalBackend.wantsAuthFirst, let token = configuration.authToken {
            try await channel.write(.text(codec.encodeString(.auth(token: token))))
        }
        let hello = Hello(nodeID: engine.nodeID, vector: try await engine.vector(),
                          cursor: position.server == nil ? nil : position.cursor, cursorOwner: position.server,
                          time: sentAt, collections: configuration.collections, frameKey: keyExchange.offer)
        try await channel.write(.text(codec.encodeString(.hello(hello))))
        try await subscribe(channel)
        // A backend of the original protocol answers this ping at once, and so tells what it is; as
        // it answers a connection's frames in order, its pong also says the subscriptions are in.
        try await ping(channel, keepAlive: keepAlive)
        try await withThrowingTaskGroup(of: Loop.self) { group in
            group.addTask {
                try await self.readLoop(channel, keepAlive: keepAlive, helloSentAt: sentAt, onHandshake: onHandshake)
                return .reader
            }
            group.addTask {
                try await self.keepAliveLoop(channel, keepAlive: keepAlive, onHandshake: onHandshake)
                return .keepAlive
            }
            group.addTask { try await self.sendLoop(channel, local: local, keepAlive: keepAlive); return .sender }
            group.addTask { try await self.gatewayLoop(channel); return .gateway }
            group.addTask { try await self.deliveryLoop(channel, keepAlive: keepAlive); return .delivery }
            // Any loop but the gateway's and the delivery's ends the session. Cancellation (the node
            // stops) ends the sender and the keep-alive; the reader ends only when the input is
            // closed (abort).
            do {
                while let ended = try await group.next(), ended == .gateway || ended == .delivery {}
            } catch {
                group.cancelAll()
                if error is AuthenticationRefused { refusedLock.withLock { $0 = true } }
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
        case reader, keepAlive, sender, gateway, delivery
    }

    private func subscribe(_ channel: some MessageChannel) async throws {
        for collection in configuration.collections {
            try await channel.write(.text(codec.encodeString(.subscribe(collection: collection))))
        }
    }

    private func ping(_ channel: some MessageChannel, keepAlive: Locked<KeepAlive>) async throws {
        delivery.withLock { $0.pingSent() }
        keepAlive.withLock { $0.pinged(at: monotonicNanos()) }
        try await channel.write(.text(codec.encodeString(.ping(time: engine.wallClock.nowMillis()))))
    }

    /// The handshake is done: the link is usable.
    private func completeHandshake(_ peer: Peer, _ onHandshake: @Sendable (Peer) -> Void) {
        let first = ended.withLock { ended in
            guard !ended, handshake.current == nil else { return false }
            handshake.fulfill(peer)
            return true
        }
        if first { onHandshake(peer) }
    }

    /// The probe took the backend for one of the original protocol.
    private func decidedOriginal(_ verdict: DialectProbe.Verdict, by frame: Frame?, _ channel: some MessageChannel,
                                 onHandshake: @escaping @Sendable (Peer) -> Void) async throws {
        switch verdict {
        case .ours:
            return
        case .original(let evidence):
            engine.learnDialect(evidence)
            // Usable once it has the subscriptions: at the pong to the ping sent after them (or at the
            // probe's deadline, keepAliveLoop).
            if case .pong? = frame { completeHandshake(.legacy, onHandshake) }
        case .originalWantingAuth:
            // Not learnt as the original protocol yet: a server of ours refusing a token says the
            // same (and closes). `authenticated` decides.
            engine.noteWantsAuthFirst()
            guard let token = configuration.authToken else {
                // Writing on would be refused, and the settle time would then take what was refused
                // for delivered: the session ends without writing, the changes stay in the outbox.
                let message = "the backend asks for authentication and the node has no authToken"
                logger.warning("\(message)")
                engine.emit(.error, error: message)
                throw AuthenticationRefused()
            }
            // The handshake completes when `authenticated` comes; what was sent before was refused.
            logger.info("the backend asks for an auth frame first: sending one")
            try await channel.write(.text(codec.encodeString(.auth(token: token))))
        }
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
                if case .decided(let verdict) = probe.withLock({ $0.received(nil) }) {
                    try await decidedOriginal(verdict, by: nil, channel, onHandshake: onHandshake)
                }
                continue
            }
            switch probe.withLock({ $0.received(frame) }) {
            case .none, .decided(.ours):
                break
            case .decided(let verdict):
                try await decidedOriginal(verdict, by: frame, channel, onHandshake: onHandshake)
            case .wasOurs:
                logger.info("the backend answered hello late: it is a SyncLayer server; reconnecting in its protocol")
                engine.learnDialect(.helloAnswered)
                throw DialectCorrected()
            }
            switch frame {
            case .hello(let hello):
                guard handshake.current == nil else { continue }
                server = hello.nodeID
                if let time = hello.time {
                    try await engine.observeServerClock(serverMillis: time, sentAt: helloSentAt, receivedAt: engine.wallClock.nowMillis())
                }
                try await engine.rememberServer(hello.nodeID)
                let key = hello.frameKey.flatMap(keyExchange.key(answer:))
                frameKey.withLock { $0 = key }
                let peer = Peer.ours(server: hello.nodeID, vector: hello.vector)
                engine.learnDialect(.helloAnswered)
                keepAlive.withLock { $0.answersPings = true }
                completeHandshake(peer, onHandshake)
            case .authenticated:
                if handshake.current == nil, probe.withLock({ $0.verdict }) == .originalWantingAuth {
                    // Subscriptions sent before authenticating were refused: again, now, then a ping
                    // whose pong says they are in.
                    engine.learnDialect(.answeredOtherwise)
                    probe.withLock { $0.authenticated() }
                    try await subscribe(channel)
                    try await ping(channel, keepAlive: keepAlive)
                }
            case .pong:
                keepAlive.withLock { $0.answersPings = true }
                // The pong to the ping after the subscriptions: a backend of the original protocol
                // (authenticated, if it asked) has them.
                if case .original? = probe.withLock({ $0.verdict }) { completeHandshake(.legacy, onHandshake) }
                if engine.speaksOriginalProtocol { try await confirm(delivery.withLock { $0.pongReceived() }) }
            case .error(let error):
                try await received(error)
            case .change(let message):
                // From our server, or relayed as it was sent by a node of ours through a legacy backend.
                HopTrace.mark(.received)
                try await engine.applyFromServer([message], cursor: message.serverSeq, server: server, realtime: true)
            case .changes(let batch):
                HopTrace.mark(.received)
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
            case .subscribed, .unsubscribed, .ping, .subscribe, .unsubscribe, .auth, .peerHello, .relay:
                break
            }
        }
    }

    /// An `error` frame from the backend.
    private func received(_ error: FrameError) async throws {
        engine.metrics.recordError(error.description)
        engine.emit(.error, error: error.description)
        switch error.code {
        case .authFailed where writesInOriginalProtocol, .unauthorized where writesInOriginalProtocol:
            try authenticationRefused(error)
        case .rateLimitExceeded where engine.speaksOriginalProtocol, .serverError where engine.speaksOriginalProtocol:
            // What the backend has not confirmed may be among what it refused: write it again soon.
            let refused = delivery.withLock { $0.refused() }
            guard !refused.isEmpty else { return }
            retry.withLock { $0.append(contentsOf: refused) }
            retryWakeup.signal()
        default:
            logger.debug("the backend sent an error", metadata: ["synclayer.error": "\(error)"])
        }
    }

    /// The probe took the backend for one of the original protocol that writes are sent to (one
    /// that asked for `auth` counts once it has said `authenticated`).
    private var writesInOriginalProtocol: Bool {
        if case .original? = probe.withLock({ $0.verdict }) { return true }
        return false
    }

    /// A backend of the original protocol, past the handshake, refused a frame for want of
    /// authentication: its token expired or was revoked, or it answered the probe before it said
    /// that it wants `auth`. What it refused is among what it has not confirmed, and a later `pong`
    /// or the settle time (``OriginalDelivery``) would take that for delivered: all of it is taken
    /// back, and stays in the outbox. The session ends; the next one sends `auth` first, then the
    /// outbox again.
    private func authenticationRefused(_ error: FrameError) throws -> Never {
        let unconfirmed = delivery.withLock { $0.refused() }
        engine.noteWantsAuthFirst()
        let next = configuration.authToken == nil ? "the node has no authToken" : "the next connection authenticates first"
        logger.warning("the backend refused the connection for want of authentication: ending the session; \(next)",
                       metadata: ["synclayer.error": "\(error)", "synclayer.changes.unconfirmed": "\(unconfirmed.count)"])
        throw AuthenticationRefused()
    }

    // MARK: Outbound

    private func sendLoop(_ channel: some MessageChannel, local: AsyncStream<[Change]>, keepAlive: Locked<KeepAlive>) async throws {
        guard let peer = await handshake.value else { return }
        if case .ours(_, let vector) = peer {
            // Ours now; other origins' (a mesh node's) after the gateway's wait (gatewayLoop).
            try await send(engine.uploadPolicy.atHandshake(try await engine.outboxForServer(vector: vector, limit: 100_000)), channel)
            for await changes in local {
                try await send(changes, channel)
            }
            return
        }
        // A backend of the original protocol: what is still pending first (each record's state now),
        // then each new change as its frame. A change goes one way at a time: the poller writes over
        // REST only what no session has in flight.
        try await resendOriginal(try await engine.outbox(limit: 100_000), channel, keepAlive: keepAlive)
        for await changes in local {
            try await sendOriginal(changes, channel, keepAlive: keepAlive)
        }
    }

    /// Writes new local changes to a backend of the original protocol, each as its frame (with our
    /// change id, clock and signature in `metadata`), then a ping whose pong confirms them.
    private func sendOriginal(_ unsigned: [Change], _ channel: some MessageChannel, keepAlive: Locked<KeepAlive>) async throws {
        guard !unsigned.isEmpty else { return }
        let signer = engine.signer
        for change in unsigned {
            try await channel.write(.text(codec.encodeString(.change(ChangeMessage(signer.signingOwn(change))))))
        }
        try await wroteOriginal(unsigned, channel, keepAlive: keepAlive)
    }

    /// Writes pending changes again (on connecting, or after a refusal): per record, its state here
    /// now (``SyncEngine/originalWrites(for:)``), never an old write that would undo a newer one.
    private func resendOriginal(_ pending: [Change], _ channel: some MessageChannel, keepAlive: Locked<KeepAlive>) async throws {
        guard !pending.isEmpty else { return }
        for write in try await engine.originalWrites(for: pending) {
            try await channel.write(.text(codec.encodeString(.change(write.message))))
        }
        try await wroteOriginal(pending, channel, keepAlive: keepAlive)
    }

    /// After a write: in flight until confirmed (the poller leaves it alone meanwhile), and a ping
    /// whose pong confirms it.
    private func wroteOriginal(_ unsigned: [Change], _ channel: some MessageChannel, keepAlive: Locked<KeepAlive>) async throws {
        engine.setInFlightOverWebSocket(unsigned.map(\.id), true)
        let wantsPing = delivery.withLock { delivery in
            delivery.wrote(unsigned, at: monotonicNanos())
            return delivery.wantsPing
        }
        if wantsPing { try await ping(channel, keepAlive: keepAlive) }
    }

    /// Changes an original backend has read (``OriginalDelivery``) leave the outbox.
    private func confirm(_ changes: [Change]) async throws {
        guard !changes.isEmpty else { return }
        try await engine.acknowledge(Ack(committed: Dictionary(changes.map { ($0.id, UInt64(0)) }) { first, _ in first }), server: nil)
        engine.setInFlightOverWebSocket(changes.map(\.id), false)
    }

    /// With a backend of the original protocol: confirms what the connection has stayed open long
    /// enough to confirm, and writes again what the backend refused (after a second).
    private func deliveryLoop(_ channel: some MessageChannel, keepAlive: Locked<KeepAlive>) async throws {
        guard case .legacy? = await handshake.value else { return }
        while true {
            let now = monotonicNanos()
            try await confirm(delivery.withLock { $0.tick(at: now) })
            let again = retry.withLock { pending -> [Change] in
                defer { pending = [] }
                return pending
            }
            if !again.isEmpty {
                try await Task.sleep(for: .seconds(1))
                try await resendOriginal(again, channel, keepAlive: keepAlive)
                continue
            }
            let next = delivery.withLock { $0.nextDeadline } ?? now + UInt64(configuration.pingInterval.nanosecondsValue)
            _ = await retryWakeup.wait(timeout: .nanoseconds(Int64(next > now ? next - now : 1_000_000)))
            try Task.checkCancellation()
        }
    }

    /// Sends changes to the server in `changes` batches of at most 500, each sealed with the frame
    /// key's code over its bytes (`Docs/Security.md`, "Frame keys"). Without a key (a
    /// server that did not answer the offer): one change as a `change` frame (the original
    /// protocol's), more in batches each with one signature over this node's own changes in it
    /// ("Frame signatures"). Either way the server checks one proof per frame, not one per change.
    private func send(_ unsigned: [Change], _ channel: some MessageChannel) async throws {
        HopTrace.mark(.sending)
        let signer = engine.signer
        let changes = unsigned.map(signer.signingOwn)
        HopTrace.mark(.signed)
        let key = frameKey.withLock { $0 }
        if key == nil, changes.count == 1, let change = changes.first {
            try await channel.write(.text(codec.encodeString(.change(ChangeMessage(change)))))
            return
        }
        var pending = changes[...]
        while !pending.isEmpty {
            let batch = Array(pending.prefix(500))
            pending.removeFirst(batch.count)
            let messages = batch.map { ChangeMessage($0) }
            guard let key else {
                let frame = ChangeBatch(changes: messages, signature: signer.frameSignature(for: batch))
                try await channel.write(.text(codec.encodeString(.changes(frame))))
                continue
            }
            let sealed = String(decoding: key.sealedFrame(messages, codec: codec), as: UTF8.self)
            HopTrace.mark(.sealed)
            try await channel.write(.text(sealed))
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

    /// Silence alone is also what a server of ours looks like behind a slow or flapping link, for
    /// longer than the probe waits; writes sent to it in the original protocol would be stored as
    /// the server's own changes, merged by timestamp against the node's, so an acknowledged write
    /// could lose to an older one. So before anything is written in that protocol, the backend's
    /// REST route must say it is not ours. If it says it is, or cannot tell (no answer, refused
    /// token, server error), the session ends without writing and the next one asks again. A
    /// node without a REST base URL has nothing to ask and takes silence for the original protocol.
    /// Returns what to learn of the backend: `helloUnanswered`, or the route's `pullNotOurs`.
    private func explainSilence() async throws -> DialectEvidence {
        guard let confirmSilence else { return .helloUnanswered }
        switch await confirmSilence() {
        case .pullNotOurs?:
            return .pullNotOurs
        case .pullAnswered?:
            logger.info("the backend sent nothing for \(probeWait) but its REST route is a SyncLayer server's; reconnecting in its protocol")
            engine.learnDialect(.pullAnswered)
            throw DialectCorrected()
        default:
            logger.info("the backend sent nothing for \(probeWait) and its REST route did not tell its protocol; reconnecting before writing")
            throw SilenceUnexplained()
        }
    }

    private func keepAliveLoop(_ channel: some MessageChannel, keepAlive: Locked<KeepAlive>,
                               onHandshake: @escaping @Sendable (Peer) -> Void) async throws {
        try await keepAlive.run(
            handshakeDeadline: probe.withLock { $0.deadline },
            handshakeDone: { handshake.current != nil },
            handshakeExpired: {
                // Nothing at all came back (not even a pong): a backend of the original protocol that
                // ignores unknown frames and pings. One taken for the original protocol by another
                // frame, that never answers the ping after the subscriptions, is usable now too.
                if case .decided(.original(let evidence)) = probe.withLock({ $0.tick(at: monotonicNanos()) }) {
                    engine.learnDialect(evidence == .helloUnanswered ? try await explainSilence() : evidence)
                }
                if case .original? = probe.withLock({ $0.verdict }) { completeHandshake(.legacy, onHandshake) }
            },
            ping: { try await ping(channel, keepAlive: keepAlive) })
        logger.info("the realtime link answered no ping for two ping intervals: closing it")
        try? await channel.close(.goingAway, reason: "no answer to pings")
        throw LinkDead()
    }
}
