#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ServiceLifecycle
import SyncCore
import SyncStore
import Synchronization
import WSCore

/// One WebSocket connection: an inbound task that decodes, checks and commits what the client sends,
/// and an outbound task that sends, in order, everything queued for the client.
///
/// A bad frame is answered with an error and counted, never fatal; too many of them, a missing
/// token, a full outbound queue or a silent client close the connection, and the rest of the server
/// goes on.
final class ServerConnection: Sendable {
    let id: UInt64
    let store: any ServerStorage
    let hub: ServerHub
    let authority: TokenAuthority
    let limits: ServerLimits
    let logger: Logger
    let items: AsyncStream<OutboundItem>
    let outboundQueue: OutboundQueue
    var queue: AsyncStream<OutboundItem>.Continuation { outboundQueue.continuation }
    /// Monotonic time of the last frame received, for the idle watchdog.
    private let lastActivity = Atomic<UInt64>(0)
    private let authenticated = Atomic<Bool>(false)
    private let codec: FrameCodec

    init(store: any ServerStorage, hub: ServerHub, authority: TokenAuthority, limits: ServerLimits, logger: Logger) {
        let (id, items, queue) = hub.register()
        self.id = id
        self.items = items
        self.outboundQueue = queue
        self.store = store
        self.hub = hub
        self.authority = authority
        self.limits = limits
        var logger = logger
        logger[metadataKey: "synclayer.connection"] = "\(id)"
        self.logger = logger
        self.codec = FrameCodec(maxFrameBytes: limits.maxFrameBytes, maxBatchCount: limits.maxBatchCount)
        hub.metrics.connectionsOpened.add(1, ordering: .relaxed)
    }

    /// Serves the connection until either side ends it. `token` is what the upgrade request carried.
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, token: String?) async {
        lastActivity.store(monotonicNanos(), ordering: .relaxed)
        var rights: TokenRights?
        if token != nil || authority.isOpen {
            rights = authority.rights(for: token)
            if rights == nil {
                hub.metrics.authFailures.add(1, ordering: .relaxed)
                queue.yield(.close(FrameError(.authFailed, "the token is not valid")))
            } else {
                authenticated.store(true, ordering: .relaxed)
            }
        }
        let initialRights = rights
        // On graceful shutdown, say goodbye and close: reading a socket does not end by itself, and
        // the server waits for every connection before it closes the database.
        await withGracefulShutdownHandler {
            await serve(inbound: inbound, outbound: outbound, rights: initialRights)
        } onGracefulShutdown: {
            self.queue.yield(.close(FrameError(.serverError, "the server is shutting down; reconnect later")))
        }
        hub.remove(id)
    }

    private func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, rights initialRights: TokenRights?) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.runOutbound(outbound) }
            group.addTask { await self.runInbound(inbound, rights: initialRights) }
            group.addTask { await self.watchdog() }
            await group.next()
            // Whichever ended first, end the others.
            self.queue.finish()
            try? await outbound.close(.normalClosure, reason: nil)
            group.cancelAll()
        }
    }

    // MARK: Inbound

    private func runInbound(_ inbound: WebSocketInboundStream, rights initialRights: TokenRights?) async {
        var rights = initialRights
        var rateLimiter = RateLimiter(rate: limits.framesPerSecond, burst: limits.frameBurst)
        var invalidFrames = 0
        do {
            for try await message in inbound.messages(maxSize: limits.maxFrameBytes) {
                lastActivity.store(monotonicNanos(), ordering: .relaxed)
                hub.metrics.framesReceived.add(1, ordering: .relaxed)
                guard rateLimiter.allow(atNanos: monotonicNanos()) else {
                    hub.metrics.rateLimited.add(1, ordering: .relaxed)
                    reply(.error(FrameError(.rateLimitExceeded, "more than \(Int(limits.framesPerSecond)) frames per second")))
                    continue
                }
                let frame: Frame
                do {
                    switch message {
                    case .text(let text): frame = try codec.decode(Array(text.utf8))
                    case .binary(let buffer): frame = try codec.decode(buffer.readableBytesView)
                    }
                } catch {
                    invalidFrames += 1
                    hub.metrics.framesRejected.add(1, ordering: .relaxed)
                    logger.debug("rejected frame", metadata: ["synclayer.error": "\(error)"])
                    reply(.error(error))
                    if invalidFrames > limits.maxInvalidFrames {
                        queue.yield(.close(FrameError(.invalidMessage, "too many invalid frames")))
                        return
                    }
                    continue
                }
                guard let granted = rights else {
                    // Not authenticated yet: only `auth` is accepted.
                    if case .auth(let token) = frame, let found = authority.rights(for: token) {
                        rights = found
                        authenticated.store(true, ordering: .relaxed)
                        reply(.authenticated)
                    } else {
                        hub.metrics.authFailures.add(1, ordering: .relaxed)
                        queue.yield(.close(FrameError(.authFailed, "authenticate first: a token in the URL, the Authorization header or an auth frame")))
                        return
                    }
                    continue
                }
                await handle(frame, rights: granted)
            }
        } catch {
            logger.debug("connection read ended", metadata: ["synclayer.error": "\(error)"])
        }
    }

    private func handle(_ frame: Frame, rights: TokenRights) async {
        switch frame {
        case .hello(let hello):
            // `hello` is always the first frame answering a node's `hello`: that is how a node tells
            // our server from a backend of the original protocol (Docs/Protocol.md).
            // The held vector, not a database read: a hello answered at once is what keeps a busy
            // server from being taken for a silent backend of the original protocol.
            reply(.hello(Hello(nodeID: store.serverID, vector: store.heldVector, cursor: store.head, time: Self.wallMillis())))
            var readable: [String] = []
            for collection in hello.collections {
                if rights.read.contains(collection) {
                    readable.append(collection)
                } else {
                    reply(.error(FrameError(.unauthorized, "no right to read \"\(collection)\"")))
                }
            }
            // A cursor is only meaningful to the server that issued it; vectors keep a restart from 0 cheap.
            let cursor = hello.cursorOwner == store.serverID ? (hello.cursor ?? 0) : 0
            queue.yield(.catchUp(cursor: cursor, vector: hello.vector, collections: readable))
        case .subscribe(let collection):
            guard rights.read.contains(collection) else {
                reply(.error(FrameError(.unauthorized, "no right to read \"\(collection)\"")))
                return
            }
            reply(.subscribed(collection: collection))
            queue.yield(.subscribe(collection))
        case .unsubscribe(let collection):
            reply(.unsubscribed(collection: collection))
            queue.yield(.unsubscribe(collection))
        case .change(let message):
            await commit([message], rights: rights)
        case .changes(let batch):
            await commit(batch.changes, rights: rights)
        case .ping:
            reply(.pong(time: Self.wallMillis()))
        case .auth:
            reply(.authenticated)
        case .peerHello, .relay:
            reply(.error(FrameError(.invalidMessage, "mesh frames are for LAN peers, not the server")))
        case .pong, .ack, .subscribed, .unsubscribed, .sync, .error, .authenticated:
            break
        }
    }

    /// Commits what a client sent: changes of ours as they are, original-protocol writes stamped by
    /// the server. New changes are acknowledged through the hub (in order); duplicates and refusals
    /// at once.
    private func commit(_ messages: [ChangeMessage], rights: TokenRights) async {
        var changes: [Change] = []
        var legacy: [LegacyWrite] = []
        var rejected: [ChangeID: FrameError] = [:]
        let held = store.heldVector
        for message in messages {
            guard rights.write.contains(message.collection) else {
                let error = FrameError(.unauthorized, "no right to write \"\(message.collection)\"")
                if let id = message.changeID { rejected[id] = error } else { reply(.error(error)) }
                continue
            }
            if let change = message.change {
                if let refusal = limits.signatures.refusal(of: change, holding: held, counting: hub.metrics) {
                    rejected[change.id] = refusal
                } else {
                    changes.append(change)
                }
            } else {
                legacy.append(LegacyWrite(kind: message.kind, collection: message.collection, recordID: message.recordID,
                                          fields: message.data ?? [:]))
            }
        }
        var duplicates: [ChangeID: UInt64] = [:]
        if !changes.isEmpty {
            do {
                for (id, outcome) in try await store.commit(changes, submitter: self.id) {
                    switch outcome {
                    case .committed(let serverSeq, duplicate: true):
                        duplicates[id] = serverSeq
                        hub.metrics.duplicatesDropped.add(1, ordering: .relaxed)
                    case .committed:
                        hub.metrics.changesCommitted.add(1, ordering: .relaxed)
                    case .rejected(let error):
                        rejected[id] = error
                    }
                }
            } catch {
                logger.warning("commit failed", metadata: ["synclayer.error": "\(error)"])
                reply(.error(FrameError(.serverError, "the server could not commit; retry")))
            }
        }
        if !legacy.isEmpty {
            do {
                let committed = try await store.commitLegacy(legacy, submitter: self.id)
                hub.metrics.changesCommitted.add(committed.count, ordering: .relaxed)
            } catch let error as StoreError {
                reply(.error(FrameError(.invalidMessage, error.message)))
            } catch {
                reply(.error(FrameError(.serverError, "the server could not commit; retry")))
            }
        }
        hub.metrics.changesRejected.add(rejected.count, ordering: .relaxed)
        if !duplicates.isEmpty || !rejected.isEmpty {
            reply(.ack(Ack(committed: duplicates, rejected: rejected)))
        }
    }

    private func reply(_ frame: Frame) {
        queue.yield(.frame(codec.encodeString(frame)))
    }

    // MARK: Outbound

    private func runOutbound(_ outbound: WebSocketOutboundWriter) async {
        var subscriptions = Set<String>()
        var live = false
        var liveFrom: UInt64 = 0
        // What the node holds without a gap, per origin: its hello vector, moved on by what it sent
        // and what it was sent. A commit it already holds (it came over the mesh) is not sent again:
        // a `held` range in the ack tells the node the server has it.
        var holds = VersionVector()
        do {
            for await item in items {
                switch item {
                case .frame(let text):
                    try await outbound.write(.text(text))
                case .commit(let changes):
                    outboundQueue.queued.release(changes.count)
                    guard live else { continue }
                    var acks: [ChangeID: UInt64] = [:]
                    var held = HeldRanges()
                    var last: UInt64 = 0
                    for change in changes where change.serverSeq > liveFrom {
                        last = change.serverSeq
                        let id = change.change.id
                        if change.submitter == self.id {
                            acks[id] = change.serverSeq
                        } else if id.seq <= holds[id.origin] {
                            held.insert(id)
                        } else if subscriptions.contains(change.change.collection) {
                            try await outbound.write(.text(change.frame))
                        } else {
                            continue
                        }
                        if id.seq == holds[id.origin] + 1 { holds[id.origin] = id.seq }
                    }
                    if !acks.isEmpty || !held.ranges.isEmpty {
                        try await outbound.write(.text(codec.encodeString(.ack(Ack(committed: acks, cursor: last, held: held.ranges)))))
                    }
                case .catchUp(let cursor, let vector, let collections):
                    holds = vector
                    subscriptions.formUnion(collections)
                    liveFrom = store.head
                    try await sendCatchUp(from: cursor, through: liveFrom, collections: subscriptions, vector: vector, outbound: outbound)
                    live = true
                case .subscribe(let collection):
                    subscriptions.insert(collection)
                    live = true
                case .unsubscribe(let collection):
                    subscriptions.remove(collection)
                case .close(let error):
                    try? await outbound.write(.text(codec.encodeString(.error(error))))
                    try? await outbound.close(error.code == .authFailed ? .policyViolation : .normalClosure, reason: error.code.rawValue)
                    return
                }
            }
        } catch {
            logger.debug("connection write ended", metadata: ["synclayer.error": "\(error)"])
        }
    }

    /// Sends every change the node lacks up to `head`, in pages, each with the cursor it reaches;
    /// the last page always carries `head`.
    private func sendCatchUp(from cursor: UInt64, through head: UInt64, collections: Set<String>, vector: VersionVector,
                             outbound: WebSocketOutboundWriter) async throws {
        var position = cursor
        while true {
            let page = try await store.changes(after: position, through: head, collections: collections, skipping: vector, limit: 500)
            position = page.more ? page.cursor : max(head, cursor)
            let messages = page.changes.map { ChangeMessage($0.change, serverSeq: $0.serverSeq) }
            try await outbound.write(.text(codec.encodeString(.changes(ChangeBatch(changes: messages, cursor: position)))))
            if !page.more { return }
        }
    }

    // MARK: Watchdog

    /// Closes a connection that stays silent past the idle timeout, or unauthenticated past the auth timeout.
    private func watchdog() async {
        let started = monotonicNanos()
        let tick = min(limits.authTimeout, limits.idleTimeout) / 4
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            let now = monotonicNanos()
            if !authenticated.load(ordering: .relaxed), now - started > UInt64(limits.authTimeout.nanoseconds) {
                queue.yield(.close(FrameError(.authFailed, "no token received in time")))
                return
            }
            if now - lastActivity.load(ordering: .relaxed) > UInt64(limits.idleTimeout.nanoseconds) {
                logger.debug("closing idle connection")
                queue.yield(.close(FrameError(.invalidMessage, "no frame for \(limits.idleTimeout)")))
                return
            }
        }
    }


    static func wallMillis() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) * 1000 + UInt64(spec.tv_nsec) / 1_000_000
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
