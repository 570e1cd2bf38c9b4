import NIOCore
import SyncCore
import SyncStore
import Synchronization

/// Everything one WebSocket connection is sent, in one order, written on its event loop.
///
/// The hub (on the publishing thread), the connection's inbound task (replies, catch-up pages) and
/// its watchdog append encoded frames here; the first append to an empty queue asks the event loop
/// once to drain it, and the drain writes every frame then pending and flushes once. So a busy
/// server sends many frames per `writev` and an idle one sends each frame at once, with no timer.
///
/// What a subscriber is sent of a commit is decided here, under the connection's lock, when the
/// hub publishes: its subscriptions, what it already holds (a change it sent us over the mesh is
/// answered by a `held` range, not sent back), and its own changes (acknowledged, not echoed).
///
/// A connection whose frames are not written out (a reader that stopped reading) is dropped past
/// `limit` frames or `byteLimit` bytes queued or handed to the channel and not yet written to the
/// socket (less what a writable channel holds below its high watermark after a small drain:
/// ``drain()``); it catches up from its cursor when it comes back. See `Docs/Delivery.md`.
final class Delivery: Sendable {
    let eventLoop: any EventLoop
    private let state = Mutex(State())
    private let context: NIOLoopBoundBox<ChannelHandlerContext?>
    /// Frames a drain wrote without a promise (``drain()``) that the socket had not all taken by the
    /// end of the flush: still counted against the bound, released with the next drain's writes.
    private let unconfirmed: NIOLoopBoundBox<[Outgoing]>
    /// Frames queued or written and not yet on the socket.
    private let frames: OutboundQueueBound
    private let bytes = Atomic<Int>(0)
    private let node = Atomic<Bool>(false)
    private let byteLimit: Int
    private let codec = FrameCodec()
    /// Where frames written, their bytes and how long they waited are counted (none in unit tests).
    private let metrics: ServerMetrics?
    /// Who is at the other end, for the server console.
    let info: ConnectionInfo

    private struct State: Sendable {
        var pending: [Outgoing] = []
        var drainScheduled = false
        var closing: Closing?
        /// No more frames are accepted (closing, dropped, or the connection ended).
        var ended = false
        /// While a catch-up is written, what else is sent waits here, in order.
        var catchingUp = false
        var deferred: [Outgoing] = []
        var subscriptions = Set<String>()
        /// When the pending drain was asked for (monotonic nanoseconds): how long frames wait.
        var drainAskedAt: UInt64 = 0
        /// The last server sequence of a commit published to this connection while live.
        var through: UInt64 = 0
        /// What the node holds without a gap, per origin: its hello vector, moved on by what it sent
        /// and what it was sent.
        var holds = VersionVector()
        var live = false
        var liveFrom: UInt64 = 0
    }

    private struct Outgoing: Sendable {
        let buffer: ByteBuffer
        let promise: EventLoopPromise<Void>?
        /// Counted against the bound (catch-up pages are not: they are written one at a time).
        var counted = true
    }

    private enum Closing: Sendable {
        /// An error frame is already queued; follow it with a close frame, then close.
        case graceful(code: UInt16, reason: String)
        /// Close the channel now (a reader too slow to be sent anything more).
        case abort
    }

    init(eventLoop: any EventLoop, limit: Int, byteLimit: Int, metrics: ServerMetrics? = nil,
         info: ConnectionInfo = ConnectionInfo(address: "")) {
        self.eventLoop = eventLoop
        self.metrics = metrics
        self.info = info
        self.context = NIOLoopBoundBox(nil, eventLoop: eventLoop)
        self.unconfirmed = NIOLoopBoundBox([], eventLoop: eventLoop)
        self.frames = OutboundQueueBound(limit: limit)
        self.byteLimit = byteLimit
    }

    // MARK: What is sent

    /// Queues a frame the connection sends (a reply, an ack). Returns `false` if the connection is
    /// over its bound and is being dropped.
    @discardableResult
    func send(_ frame: Frame) -> Bool {
        send(encoded: ServerFrame.text(codec.encode(frame)))
    }

    /// Queues a frame already encoded (a pong), in the same order as everything else.
    @discardableResult
    func send(encoded buffer: ByteBuffer) -> Bool {
        enqueue { state in [Outgoing(buffer: buffer, promise: nil)] }
    }

    /// Queues what a commit means to this connection: the change frames it subscribes to, then one
    /// ack for its own changes and those it already held. Called by the hub in commit order.
    /// Returns `false` if the connection is over its bound and is being dropped.
    #if HopTrace
    /// A change frame waits for the next drain (``HopTrace/Hop/subscriberWritten``).
    private let tracesDrain = Atomic<Bool>(false)
    #endif

    @discardableResult
    func publish(_ changes: [HubChange], connection: UInt64) -> Bool {
        publishing(changes, connection: connection).admitted
    }

    /// ``publish(_:connection:)``, also saying whether any change frame was queued (the fan-out).
    ///
    /// `skipped`: the store left out, up to `through`, every change outside `complete` (other
    /// instances' changes in collections no connection here subscribed to when it read them:
    /// `PostgresWriter.catchUp()`). A node live below `through` that subscribes to another
    /// collection may lack one of them, and its cursor must not move past a change it did not get:
    /// its connection is dropped before anything of this commit goes out, and it catches up from
    /// its cursor when it reconnects. A client of the original protocol is sent its collection from
    /// its subscription on: nothing changes for it.
    ///
    /// `drains`: where the drain this asks for is gathered with other connections' (the hub's
    /// publish), instead of being asked of the event loop at once.
    func publishing(_ changes: [HubChange], skipped: (through: UInt64, complete: Set<String>)? = nil,
                    connection: UInt64, drains: DrainBatch? = nil) -> (admitted: Bool, sentChanges: Bool) {
        let isNode = self.isNode
        var sentChanges = false
        let admitted = enqueue(drains: drains) { state in
            guard state.live else { return [] }
            if isNode, let skipped, skipped.through > state.liveFrom, !state.subscriptions.isSubset(of: skipped.complete) {
                metrics?.partialResyncs.add(1, ordering: .relaxed)
                state.ended = true
                state.deferred = []
                state.closing = .abort
                return []
            }
            var out: [Outgoing] = []
            var acks: [ChangeID: UInt64] = [:]
            var held = HeldRanges()
            var last: UInt64 = 0
            // The subscription is looked up once per run of one collection: this runs for every
            // connection and every change, and hashing the collection each time was a good part of
            // what a delivery cost.
            var runCollection: String?
            var runWanted = false
            for change in changes where change.serverSeq > state.liveFrom {
                last = change.serverSeq
                if change.submitter == connection {
                    // Never echoed to its sender; acknowledged unless it is an original-protocol write.
                    if !change.isStampedWrite { acks[change.change.id] = last }
                    if isNode { Self.advance(&state.holds, past: change.change.id) }
                    continue
                }
                // What a node holds: its hello's vector, moved on by what it sent and was sent. A client
                // of the original protocol sends no vector, and nothing is published to it twice.
                if isNode, change.change.id.seq <= state.holds[change.change.id.origin] {
                    held.insert(change.change.id)
                    continue
                }
                if change.change.collection != runCollection {
                    runCollection = change.change.collection
                    runWanted = Self.isSubscribed(state.subscriptions, to: change.change.collection)
                }
                guard runWanted else { continue }
                out.append(Outgoing(buffer: isNode ? change.nodeFrame : change.frame, promise: nil))
                sentChanges = true
                if isNode { Self.advance(&state.holds, past: change.change.id) }
            }
            if last != 0 { state.through = last }
            #if HopTrace
            // Before the drain is asked for, which may run at once on the connection's loop.
            if sentChanges { tracesDrain.store(true, ordering: .relaxed) }
            #endif
            if !acks.isEmpty || !held.ranges.isEmpty {
                let ack = codec.encode(.ack(Ack(committed: acks, cursor: last, held: held.ranges)))
                out.append(Outgoing(buffer: ServerFrame.text(ack), promise: nil))
            }
            return out
        }
        return (admitted, sentChanges)
    }

    /// Whether `subscriptions` holds `collection`. A connection has a few subscriptions, and
    /// comparing a few strings costs less than hashing one (about 240 instructions): this runs for
    /// every connection each commit is published to.
    static func isSubscribed(_ subscriptions: Set<String>, to collection: String) -> Bool {
        subscriptions.count <= 4 ? subscriptions.contains { $0 == collection } : subscriptions.contains(collection)
    }

    /// Moves what a node holds of `id`'s origin past it, when it comes right after.
    private static func advance(_ holds: inout VersionVector, past id: ChangeID) {
        if id.seq == holds[id.origin] + 1 { holds[id.origin] = id.seq }
    }

    /// A client of the original protocol subscribed: answer, then deliver the collection from now.
    func subscribe(_ collection: String) {
        let buffer = ServerFrame.text(codec.encode(.subscribed(collection: collection)))
        enqueue { state in
            state.subscriptions.insert(collection)
            state.live = true
            return [Outgoing(buffer: buffer, promise: nil)]
        }
    }

    /// Answers an unsubscribe and stops delivering the collection.
    func unsubscribe(_ collection: String) {
        let buffer = ServerFrame.text(codec.encode(.unsubscribed(collection: collection)))
        enqueue { state in
            state.subscriptions.remove(collection)
            return [Outgoing(buffer: buffer, promise: nil)]
        }
    }

    /// Whether a node (it said `hello`) is at the other end: it gets the server's own changes signed.
    var isNode: Bool { node.load(ordering: .relaxed) }

    /// What the server console shows of this connection.
    var view: (subscriptions: Set<String>, through: UInt64, catchingUp: Bool) {
        state.withLock { ($0.subscriptions, max($0.through, $0.liveFrom), $0.catchingUp) }
    }

    // MARK: Catch-up

    /// Starts a node's catch-up: subscribes `collections`, goes live from the store's head (read
    /// under the lock, so a commit is either at or below it, in the catch-up, or published after,
    /// delivered live), and holds every other frame back until ``endCatchUp()``.
    /// Returns the head the catch-up must reach and the collections it covers.
    func beginCatchUp(vector: VersionVector, collections: [String], head: () -> UInt64) -> (head: UInt64, collections: Set<String>) {
        node.store(true, ordering: .relaxed)
        return state.withLock { state in
            state.holds = vector
            state.subscriptions.formUnion(collections)
            state.liveFrom = head()
            state.live = true
            state.catchingUp = true
            return (state.liveFrom, state.subscriptions)
        }
    }

    /// Writes one catch-up page ahead of everything held back; completes once it is on the socket
    /// (so a catch-up reads its next page only as fast as the client takes them), fails if the
    /// connection ended.
    func sendCatchUpPage(_ frame: Frame) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let outgoing = Outgoing(buffer: ServerFrame.text(codec.encode(frame)), promise: promise, counted: false)
        let (accepted, schedule) = state.withLock { state -> (Bool, Bool) in
            guard !state.ended else { return (false, false) }
            state.pending.append(outgoing)
            return (true, Self.claimDrain(&state))
        }
        if schedule { scheduleDrain() }
        if !accepted { promise.fail(ChannelError.ioOnClosedChannel) }
        return promise.futureResult
    }

    /// Ends a catch-up: what was held back follows, in order.
    func endCatchUp() {
        let schedule = state.withLock { state -> Bool in
            state.catchingUp = false
            guard !state.deferred.isEmpty, !state.ended else { return false }
            state.pending.append(contentsOf: state.deferred)
            state.deferred = []
            return Self.claimDrain(&state)
        }
        if schedule { scheduleDrain() }
    }

    // MARK: Ending

    /// Sends `error` (if any: none when answering the client's own close), then a close frame with
    /// `code`, then closes the connection. Frames not yet written are still sent first; nothing
    /// queued after this is.
    func close(with error: FrameError?, code: UInt16) {
        let buffer = error.map { ServerFrame.text(codec.encode(.error($0))) }
        let schedule = state.withLock { state -> Bool in
            guard !state.ended else { return false }
            state.ended = true
            state.deferred = []
            // Not admitted against the bound (the connection is ending), so not released either.
            if let buffer { state.pending.append(Outgoing(buffer: buffer, promise: nil, counted: false)) }
            state.closing = .graceful(code: code, reason: error?.code.rawValue ?? "")
            return Self.claimDrain(&state)
        }
        if schedule { scheduleDrain() }
    }

    /// Closes the connection at once, unsent frames dropped (a reader too slow to keep up).
    func abort() {
        let schedule = state.withLock { state -> Bool in
            state.ended = true
            state.deferred = []
            state.closing = .abort
            return Self.claimDrain(&state)
        }
        if schedule { scheduleDrain() }
    }

    /// The connection ended: accept nothing more (a close already asked for still goes out).
    func finish() {
        state.withLock { state in
            state.ended = true
            state.deferred = []
        }
    }

    // MARK: Event loop side

    /// The handler's context, while the handler is in the pipeline (on the event loop).
    func attach(_ context: ChannelHandlerContext?) {
        self.context.value = context
    }

    /// Appends what `make` decides under the lock, to the held-back list during a catch-up, and
    /// drops the connection if that takes it past its bound.
    @discardableResult
    private func enqueue(drains: DrainBatch? = nil, _ make: (inout State) -> [Outgoing]) -> Bool {
        var admitted = true
        let schedule = state.withLock { state -> Bool in
            guard !state.ended else { return false }
            let out = make(&state)
            // `make` may end the connection (a node published a change it cannot be sent whole).
            guard !out.isEmpty else { return state.ended && Self.claimDrain(&state) }
            let size = out.reduce(0) { $0 + $1.buffer.readableBytes }
            let queuedBytes = bytes.add(size, ordering: .relaxed).newValue
            if !frames.admit(out.count) || (queuedBytes > byteLimit && queuedBytes != size) {
                bytes.subtract(size, ordering: .relaxed)
                admitted = false
                state.ended = true
                state.deferred = []
                state.closing = .abort
                return Self.claimDrain(&state)
            }
            if state.catchingUp {
                state.deferred.append(contentsOf: out)
                return false
            }
            // An idle queue takes `out` itself: no second array per delivery.
            if state.pending.isEmpty { state.pending = out } else { state.pending.append(contentsOf: out) }
            return Self.claimDrain(&state)
        }
        if schedule {
            if let drains { drains.add(self) } else { scheduleDrain() }
        }
        return admitted
    }

    /// Whether the caller must schedule a drain (only the first append to an idle queue does).
    private static func claimDrain(_ state: inout State) -> Bool {
        if state.drainScheduled { return false }
        state.drainScheduled = true
        state.drainAskedAt = monotonicNanos()
        return true
    }

    private func scheduleDrain() {
        eventLoop.execute { self.drain() }
    }

    /// On the event loop: writes every pending frame, flushes once, then closes if asked to.
    fileprivate func drain() {
        let (items, closing, askedAt) = state.withLock { state in
            state.drainScheduled = false
            #if HopTrace
            // Under the lock the publish set it in: this drain writes the frame that set it.
            if tracesDrain.exchange(false, ordering: .relaxed) { HopTrace.mark(.subscriberWritten) }
            #endif
            defer {
                state.pending = []
                state.closing = nil
            }
            return (state.pending, state.closing, state.drainAskedAt)
        }
        let context = context.value
        guard let context, !isAbort(closing) else {
            // Nothing can be written: the channel is gone, or too slow to be sent anything more.
            release(items)
            for item in items { item.promise?.fail(ChannelError.ioOnClosedChannel) }
            context?.close(promise: nil)
            return
        }
        var written = items
        if case .graceful(let code, let reason) = closing {
            written.append(Outgoing(buffer: ServerFrame.close(code: code, reason: reason), promise: nil, counted: false))
        }
        guard !written.isEmpty else { return }
        // Writes complete in order: the last one's completion releases them all. A small drain that
        // nobody waits for (no page, no close) to a writable channel, behind nothing unconfirmed,
        // is written without a promise, and released once flushed if the channel is still writable:
        // what it then holds unwritten is below NIO's high watermark (64 kB). That saves a promise,
        // its future and its callback per delivery, for each of 1,000 subscribers of a commit. A
        // drain that leaves the channel unwritable stays counted until a later drain's writes
        // complete, and every drain after it takes a promise until then.
        let last = written[written.count - 1]
        let previous = unconfirmed.value
        let join = context.channel.isWritable
        let size = written.reduce(0) { $0 + $1.buffer.readableBytes }
        let confirmLater = join && last.promise == nil && closing == nil && previous.isEmpty && written.count <= Self.smallDrain.frames
            && size <= Self.smallDrain.bytes
        let done = confirmLater ? nil : (last.promise ?? context.eventLoop.makePromise(of: Void.self))
        // Each run of frames up to one somebody waits for (a catch-up page, and the last) goes out
        // as one buffer: copying a few hundred bytes costs less than a write of its own through
        // the pipeline and its own entry in the socket's pending writes. Not while the socket is
        // backed up: what waits there would be this connection's copy of frames that every
        // connection shares, and a reader that stopped would hold its bound in copies.
        var start = 0
        for end in written.indices where end == written.count - 1 || written[end].promise != nil || !join {
            let promise = end == written.count - 1 ? done : written[end].promise
            if start == end {
                context.write(NIOAny(written[end].buffer), promise: promise)
            } else {
                var run = context.channel.allocator.buffer(capacity: written[start...end].reduce(0) { $0 + $1.buffer.readableBytes })
                for item in written[start...end] { run.writeImmutableBuffer(item.buffer) }
                context.write(NIOAny(run), promise: promise)
            }
            start = end + 1
        }
        context.flush()
        if let metrics {
            metrics.framesSent.add(written.count, ordering: .relaxed)
            metrics.bytesSent.add(size, ordering: .relaxed)
            metrics.deliverySeconds.recordNanoseconds(Int64(clamping: monotonicNanos() &- askedAt))
        }
        guard let done else {
            if context.channel.isWritable {
                release(items)
            } else {
                unconfirmed.value = items
            }
            return
        }
        if !previous.isEmpty { unconfirmed.value = [] }
        let channel = context.channel
        done.futureResult.whenComplete { [self] _ in
            release(previous)
            release(items)
            if closing != nil { channel.close(promise: nil) }
        }
    }

    /// The most a drain writes without a promise (``drain()``).
    private static var smallDrain: (frames: Int, bytes: Int) { (4, 16 << 10) }

    private func isAbort(_ closing: Closing?) -> Bool {
        if case .abort = closing { return true }
        return false
    }

    /// `items` are on the socket, or will never be: they no longer count against the bound.
    private func release(_ items: [Outgoing]) {
        var count = 0
        var size = 0
        for item in items where item.counted {
            count += 1
            size += item.buffer.readableBytes
        }
        guard count > 0 else { return }
        frames.release(count)
        bytes.subtract(size, ordering: .relaxed)
    }
}

/// The drains one publish asks for, gathered per event loop: each loop is asked once per
/// ``size`` connections (`execute`, two locks and a task each), where each connection asked its
/// own. A loop starts on a batch as soon as it is full, while the hub goes on with the next
/// connections; ``submit()`` sends what is left. Used by one thread, within one publish.
final class DrainBatch {
    /// Connections per `execute`.
    static let size = 32
    private var loops: [(loop: any EventLoop, deliveries: [Delivery])] = []

    func add(_ delivery: Delivery) {
        let loop = ObjectIdentifier(delivery.eventLoop)
        guard let index = loops.firstIndex(where: { ObjectIdentifier($0.loop) == loop }) else {
            loops.append((delivery.eventLoop, [delivery]))
            return
        }
        loops[index].deliveries.append(delivery)
        if loops[index].deliveries.count >= Self.size { submit(index) }
    }

    /// Asks each loop to drain what was gathered for it.
    func submit() {
        for index in loops.indices where !loops[index].deliveries.isEmpty { submit(index) }
    }

    private func submit(_ index: Int) {
        let deliveries = loops[index].deliveries
        loops[index].deliveries = []
        loops[index].loop.execute {
            for delivery in deliveries { delivery.drain() }
        }
    }
}

/// Puts a connection's ``Delivery`` on its channel: between the TLS handler (if any) and NIO's
/// WebSocket frame encoder, so that its frames, already encoded, are written as they are and still
/// encrypted. It is added at the tail while the HTTP upgrade is decided; the WebSocket handlers are
/// added after it. The close NIO's protocol error handler writes passes through it unchanged.
final class DeliveryHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let delivery: Delivery

    init(_ delivery: Delivery) {
        self.delivery = delivery
    }

    func handlerAdded(context: ChannelHandlerContext) {
        delivery.attach(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Breaks the cycle context → pipeline → handler → delivery → context.
        delivery.attach(nil)
        delivery.finish()
    }
}
