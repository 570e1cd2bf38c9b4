#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import SyncCore
import SyncStore
import Synchronization

/// One WebSocket connection: a reader on the event loop (``WebSocketConnectionHandler``) that
/// decodes and checks what the client sends, a task that commits it (only while something waits,
/// ``InboundQueue``), and a ``Delivery`` that writes, in one order on the connection's event loop, everything
/// the client is sent (replies, acks, catch-up pages, live changes, the close).
///
/// A bad frame is answered with an error and counted, never fatal; too many of them, a missing
/// token, a reader too slow to keep up or a silent client close the connection, and the rest of the
/// server goes on.
final class ServerConnection: Sendable {
    let id: UInt64
    let store: any ServerStorage
    let hub: ServerHub
    let authority: TokenAuthority
    let limits: ServerLimits
    let logger: Logger
    let delivery: Delivery
    /// Monotonic time of the last frame received, for the idle watchdog.
    private let lastActivity = Atomic<UInt64>(0)
    private let authenticated = Atomic<Bool>(false)
    private let codec: FrameCodec
    /// Frames read and not yet handled; see ``InboundQueue``.
    private let received: InboundQueue<InboundItem>
    private let watchdog = Mutex<RepeatedTask?>(nil)
    /// The key this connection's node offered in its `hello` and the server accepted
    /// (``FrameKey``): its codes vouch for the node's own changes in place of their signatures.
    private let frameKey = Mutex<FrameKey?>(nil)

    init(delivery: Delivery, store: any ServerStorage, hub: ServerHub, authority: TokenAuthority, limits: ServerLimits, logger: Logger) {
        self.id = hub.register(delivery)
        self.delivery = delivery
        self.store = store
        self.hub = hub
        self.authority = authority
        self.limits = limits
        var logger = logger
        logger[metadataKey: "synclayer.connection"] = "\(id)"
        self.logger = logger
        self.codec = FrameCodec(maxFrameBytes: limits.maxFrameBytes, maxBatchCount: limits.maxBatchCount)
        // Bounded in changes, not frames: a frame may carry a batch of up to maxBatchCount.
        // The handling task starts on the event loop that read the frame, at once, instead of
        // waiting for a thread of Swift's pool to wake (40–86 µs here), and handles a few changes
        // there; a batch moves to the pool (`InboundQueue.inlineWeight`).
        received = InboundQueue(limit: limits.maxBatchCount, executor: EventLoopTaskExecutor(delivery.eventLoop)) { item in
            guard case .frame(let frame, _, _) = item else { return 1 }
            switch frame {
            case .changes(let batch): return batch.changes.count
            default: return 1
            }
        }
        hub.metrics.connectionsOpened.add(1, ordering: .relaxed)
    }

    /// What the connection's reader (``WebSocketConnectionHandler``, on the event loop) keeps
    /// between frames.
    struct ReaderState {
        var rights: TokenRights?
        var rateLimiter: RateLimiter
        var invalidFrames = 0
        /// The connection is closing: frames still arriving are dropped.
        var stopped = false
    }

    /// Starts serving, on the channel's event loop once the upgrade is done: the handling of
    /// what is read, the watchdog, and the token the upgrade request carried, if any.
    func open(token: String?) -> ReaderState {
        lastActivity.store(monotonicNanos(), ordering: .relaxed)
        received.setHandler { [self] items in await handle(items) }
        let task = startWatchdog()
        watchdog.withLock { $0 = task }
        var reader = ReaderState(rateLimiter: RateLimiter(rate: limits.framesPerSecond, burst: limits.frameBurst))
        if token != nil || authority.isOpen {
            reader.rights = authority.rights(for: token)
            if reader.rights == nil {
                hub.metrics.authFailures.add(1, ordering: .relaxed)
                close(FrameError(.authFailed, "the token is not valid"))
                reader.stopped = true
            } else {
                authenticated.store(true, ordering: .relaxed)
                hub.metrics.connectionsAuthenticated.add(1, ordering: .relaxed)
            }
        }
        return reader
    }

    /// Once the channel has closed: handles what was read before, then lets go of the connection.
    func ended() async {
        await received.drained()
        received.setHandler(nil)
        watchdog.withLock { $0?.cancel() }
        delivery.finish()
        hub.remove(id)
    }

    /// Sends `error` and closes: an auth failure as a policy violation (1008), anything else as a
    /// normal closure (1000).
    private func close(_ error: FrameError) {
        delivery.close(with: error, code: error.code == .authFailed ? 1008 : 1000)
    }

    // MARK: Inbound

    /// Any frame from the client, a control frame too, shows it is alive (the idle watchdog).
    func touched() {
        lastActivity.store(monotonicNanos(), ordering: .relaxed)
    }

    /// One whole message from the client, on the event loop: counted, rate limited, decoded and
    /// checked, then queued for handling. Returns `false` when the reader must stop reading until
    /// `resume` is called (the queue is at its bound), or for good (`reader.stopped`).
    func receive(_ bytes: UnsafeRawBufferPointer, _ reader: inout ReaderState, resume: @escaping @Sendable () -> Void) -> Bool {
        guard !reader.stopped else { return false }
        let now = monotonicNanos()
        lastActivity.store(now, ordering: .relaxed)
        hub.metrics.received(bytes: bytes.count)
        guard reader.rateLimiter.allow(atNanos: now) else {
            hub.metrics.rateLimited.add(1, ordering: .relaxed)
            return received.offer(.reply(.error(FrameError(.rateLimitExceeded, "more than \(Int(limits.framesPerSecond)) frames per second"))),
                                  resume: resume)
        }
        let frame: Frame
        do {
            frame = try codec.decode(bytes)
        } catch {
            reader.invalidFrames += 1
            hub.metrics.framesRejected.add(1, ordering: .relaxed)
            logger.debug("rejected frame", metadata: ["synclayer.error": "\(error)"])
            let goOn = received.offer(.reply(.error(error)), resume: resume)
            if reader.invalidFrames > limits.maxInvalidFrames {
                close(FrameError(.invalidMessage, "too many invalid frames"))
                reader.stopped = true
                return false
            }
            return goOn
        }
        guard let granted = reader.rights else {
            // Not authenticated yet: only `auth` is accepted.
            if case .auth(let token) = frame, let found = authority.rights(for: token) {
                reader.rights = found
                authenticated.store(true, ordering: .relaxed)
                hub.metrics.connectionsAuthenticated.add(1, ordering: .relaxed)
                reply(.authenticated)
                return true
            }
            hub.metrics.authFailures.add(1, ordering: .relaxed)
            close(FrameError(.authFailed, "authenticate first: a token in the URL, the Authorization header or an auth frame"))
            reader.stopped = true
            return false
        }
        HopTrace.mark(.serverDecoded)
        let sealer = sealer(of: frame, bytes)
        HopTrace.mark(.serverOpened)
        return received.offer(.frame(frame, granted, sealedBy: sealer), resume: resume)
    }

    /// The node whose frame key sealed `frame` (a `changes` frame with a code), checked over the
    /// bytes as received; `nil` when it carries no code, the connection has no key, or the code does
    /// not open (its changes are then checked by their signatures).
    private func sealer(of frame: Frame, _ bytes: UnsafeRawBufferPointer) -> NodeID? {
        guard case .changes(let batch) = frame, batch.code != nil, let key = frameKey.withLock({ $0 }) else { return nil }
        hub.metrics.frameCodesChecked.add(1, ordering: .relaxed)
        guard key.opens(bytes) else {
            logger.debug("a frame's code does not open under the connection's key; checking its changes one by one")
            return nil
        }
        return key.origin
    }

    /// What the reader hands on, in order: frames to handle (with the node whose frame key sealed
    /// the frame, if one did), and its own answers (a refused frame, the rate limit) so that they
    /// keep their place among the answers to the frames before them.
    enum InboundItem: Sendable {
        case frame(Frame, TokenRights, sealedBy: NodeID?)
        case reply(Frame)
    }

    /// Handles what arrived together: consecutive `change` and `changes` frames are committed as one
    /// batch (up to `maxBatchCount` changes), everything else in order between them.
    private func handle(_ items: [InboundItem]) async {
        HopTrace.mark(.serverHandling)
        var batch = PendingChanges()
        var batchRights: TokenRights?
        for item in items {
            var messages: [ChangeMessage] = []
            var proof: FrameProof?
            if case .frame(let frame, let rights, let sealer) = item {
                switch frame {
                case .change(let message): messages = [message]
                case .changes(let changes): (messages, proof) = (changes.changes, Self.proof(of: changes, sealedBy: sealer))
                default: break
                }
                if !messages.isEmpty {
                    if let current = batchRights, current != rights || batch.messages.count + messages.count > limits.maxBatchCount {
                        await commit(batch, rights: current)
                        batch = PendingChanges()
                    }
                    batch.append(messages, proof: proof)
                    batchRights = rights
                    continue
                }
            }
            if let current = batchRights, !batch.messages.isEmpty {
                await commit(batch, rights: current)
                batch = PendingChanges()
            }
            switch item {
            case .frame(let frame, let rights, _): await handle(frame, rights: rights)
            case .reply(let frame): reply(frame)
            }
        }
        if let current = batchRights, !batch.messages.isEmpty { await commit(batch, rights: current) }
    }

    /// Change messages of consecutive frames, committed as one batch, with the frame signatures or
    /// codes that came with them (each over the messages of its own frame).
    struct PendingChanges {
        var messages: [ChangeMessage] = []
        var proofs: [(messages: Range<Int>, proof: FrameProof)] = []

        mutating func append(_ more: [ChangeMessage], proof: FrameProof?) {
            if let proof { proofs.append((messages.count..<messages.count + more.count, proof)) }
            messages.append(contentsOf: more)
        }
    }

    /// The frame key that sealed a frame, when one did (a node that shares a frame key sends no
    /// signature), else the frame's signature.
    private static func proof(of batch: ChangeBatch, sealedBy sealer: NodeID?) -> FrameProof? {
        if let sealer { return .sealed(by: sealer) }
        return batch.signature.map { .signature($0) }
    }

    /// Checks the frame key `node` offered in its `hello` and returns what to answer, `nil` when
    /// there was no offer or it does not hold (the connection's changes are then checked by their
    /// signatures, as without one).
    private func acceptFrameKey(_ offer: [UInt8]?, from node: NodeID) -> [UInt8]? {
        guard let offer else { return nil }
        hub.metrics.frameKeysChecked.add(1, ordering: .relaxed)
        let accepted = FrameKey.accept(offer, from: node)
        if accepted == nil { logger.notice("a frame key offered in the name of \(node) does not hold; checking its changes one by one") }
        frameKey.withLock { $0 = accepted?.key }
        return accepted?.answer
    }

    private func handle(_ frame: Frame, rights: TokenRights) async {
        switch frame {
        case .hello(let hello):
            delivery.info.identify(hello.nodeID)
            // `hello` is always the first frame answering a node's `hello`: that is how a node tells
            // our server from a backend of the original protocol (Docs/Protocol.md).
            // The held vector, not a database read: a hello answered at once is what keeps a busy
            // server from being taken for a silent backend of the original protocol.
            let answer = acceptFrameKey(hello.frameKey, from: hello.nodeID)
            reply(.hello(Hello(nodeID: store.serverID, vector: store.heldVector, cursor: store.head, time: Self.wallMillis(), frameKey: answer)))
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
            await catchUp(from: cursor, vector: hello.vector, collections: readable)
        case .subscribe(let collection):
            guard rights.read.contains(collection) else {
                reply(.error(FrameError(.unauthorized, "no right to read \"\(collection)\"")))
                return
            }
            delivery.subscribe(collection)
        case .unsubscribe(let collection):
            delivery.unsubscribe(collection)
        case .change, .changes:
            // Committed in batches by `handle(_ items:)`; an empty `changes` frame commits nothing.
            break
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
    private func commit(_ pending: PendingChanges, rights: TokenRights) async {
        var changes: [Change] = []
        var legacy: [LegacyWrite] = []
        var refusedStates = 0
        var rejected: [ChangeID: FrameError] = [:]
        let held = store.heldVector
        let carried = pending.messages.map(\.change)
        let vouched = limits.signatures.vouched(carried, by: pending.proofs, holding: held, counting: hub.metrics)
        for (message, carried) in zip(pending.messages, carried) {
            guard rights.write.contains(message.collection) else {
                let error = FrameError(.unauthorized, "no right to write \"\(message.collection)\"")
                if let id = message.changeID { rejected[id] = error } else { reply(.error(error)) }
                continue
            }
            if let change = carried {
                if vouched.contains(change.id) {
                    changes.append(change)
                } else if let refusal = limits.signatures.refusal(of: change, holding: held, counting: hub.metrics) {
                    rejected[change.id] = refusal
                } else {
                    changes.append(change)
                }
            } else if delivery.isNode {
                // A node of ours (it said `hello`) that took this server for a backend of the original
                // protocol, its `hello` answered late (Docs/Protocol.md): such a write is a record's
                // state, no change of the node's, and stored as the server's own it would be merged by
                // the server's clock against the node's changes. Refused: the node writes it again,
                // as its changes, once it has our `hello`.
                refusedStates += 1
            } else {
                legacy.append(LegacyWrite(kind: message.kind, collection: message.collection, recordID: message.recordID,
                                          fields: message.data ?? [:]))
            }
        }
        if refusedStates > 0 {
            hub.metrics.changesRejected.add(refusedStates, ordering: .relaxed)
            reply(.error(FrameError(.serverError, "this is a SyncLayer server, and you said hello: send changes, not records' states")))
        }
        var duplicates: [ChangeID: UInt64] = [:]
        if !changes.isEmpty {
            do {
                HopTrace.mark(.serverCommitting)
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
                // Not committed, or not known to be, so not acknowledged. A node sends what got no ack
                // again when it connects, not on an error frame: the connection is closed, so the
                // node reconnects and sends it again (a duplicate if it did commit).
                logger.warning("commit failed", metadata: ["synclayer.error": "\(error)"])
                close(FrameError(.serverError, "the server could not commit; reconnect and send again"))
                return
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
        if !delivery.send(frame) { hub.metrics.slowConnectionsDropped.add(1, ordering: .relaxed) }
    }

    // MARK: Catch-up

    /// Sends every change the node lacks up to the head, in pages, each with the cursor it reaches
    /// (the last page always carries the head); live frames wait until it is done. A page is read
    /// only once the one before is on the socket. The handling task does this: the reader goes on
    /// reading into the queue (up to its bound), and what it queued is handled after the catch-up,
    /// whose answers would wait behind it anyway.
    private func catchUp(from cursor: UInt64, vector: VersionVector, collections: [String]) async {
        let (head, subscribed) = delivery.beginCatchUp(vector: vector, collections: collections) { store.head }
        defer { delivery.endCatchUp() }
        var position = cursor
        do {
            while true {
                let page = try await store.changes(after: position, through: head, collections: subscribed, skipping: vector, limit: 500)
                position = page.more ? page.cursor : max(head, cursor)
                let messages = page.messages(signedBy: store.identity.signer)
                try await delivery.sendCatchUpPage(.changes(ChangeBatch(changes: messages, cursor: position))).get()
                lastActivity.store(monotonicNanos(), ordering: .relaxed)
                if !page.more { return }
            }
        } catch {
            logger.debug("catch-up ended", metadata: ["synclayer.error": "\(error)"])
            close(FrameError(.serverError, "the server could not send what you lack; reconnect"))
        }
    }

    // MARK: Watchdog

    /// Closes a connection that stays silent past the idle timeout, or unauthenticated past the
    /// auth timeout: a repeated task on the connection's event loop, not a task of its own.
    private func startWatchdog() -> RepeatedTask {
        let started = monotonicNanos()
        let tick = min(limits.authTimeout, limits.idleTimeout) / 4
        let authNanos = UInt64(limits.authTimeout.nanoseconds)
        let idleNanos = UInt64(limits.idleTimeout.nanoseconds)
        let interval = TimeAmount.nanoseconds(max(tick.nanoseconds, 1_000_000))
        return delivery.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] task in
            let now = monotonicNanos()
            if !authenticated.load(ordering: .relaxed), now - started > authNanos {
                close(FrameError(.authFailed, "no token received in time"))
                task.cancel()
            } else if now - lastActivity.load(ordering: .relaxed) > idleNanos {
                logger.debug("closing idle connection")
                close(FrameError(.invalidMessage, "no frame for \(limits.idleTimeout)"))
                task.cancel()
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
