import NIOCore
import NIOEmbedded
import NIOWebSocket
import SyncCore
@testable import SyncServer
import Testing

/// A connection's delivery on an embedded channel: what it writes, in which order, with how many
/// flushes, and when it closes. The event loop runs only when the test says so, which is how the
/// tests stand for a busy server (several commits published before the loop gets to drain).
@Suite struct DeliveryTests {
    static let origin = NodeID("00112233445566778899aabbccddeeff")!
    static let other = NodeID("ffeeddccbbaa99887766554433221100")!

    /// Counts the flushes that reach the socket side.
    final class FlushCounter: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = ByteBuffer
        let flushes = ManagedAtomicCounter()
        func flush(context: ChannelHandlerContext) {
            flushes.increment()
            context.flush()
        }
    }

    final class ManagedAtomicCounter: @unchecked Sendable {
        private(set) var value = 0
        func increment() { value += 1 }
    }

    struct Harness {
        let channel: EmbeddedChannel
        let counter = FlushCounter()
        let delivery: Delivery

        init(limit: Int = 10_000, byteLimit: Int = 64 << 20, metrics: ServerMetrics? = nil, loop: EmbeddedEventLoop = EmbeddedEventLoop()) throws {
            channel = EmbeddedChannel(loop: loop)
            delivery = Delivery(eventLoop: channel.embeddedEventLoop, limit: limit, byteLimit: byteLimit, metrics: metrics)
            try channel.pipeline.syncOperations.addHandler(counter)
            try channel.pipeline.syncOperations.addHandler(DeliveryHandler(delivery))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        }

        /// Runs the loop, then decodes every frame written since the last call.
        func written() throws -> [Frame] {
            try writtenFrames().map { frame in
                #expect(frame.opcode == .text)
                return try FrameCodec().decode(frame.unmaskedData.readableBytesView)
            }
        }

        /// Runs the loop, then decodes every WebSocket frame written since the last call, whatever
        /// the writes that carried them.
        func writtenFrames() throws -> [WebSocketFrame] {
            channel.embeddedEventLoop.run()
            var frames: [WebSocketFrame] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { frames += try DeliveryTests.decodeAll(buffer) }
            return frames
        }
    }

    /// The one frame `buffer` holds.
    static func decode(_ buffer: ByteBuffer) throws -> WebSocketFrame {
        let frames = try decodeAll(buffer)
        #expect(frames.count == 1, "one buffer holds exactly one frame")
        return try #require(frames.first)
    }

    /// Every frame `buffer` holds, whole (no bytes left over).
    static func decodeAll(_ buffer: ByteBuffer) throws -> [WebSocketFrame] {
        let decoder = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 24)))
        try decoder.writeInbound(buffer)
        var frames: [WebSocketFrame] = []
        while let frame = try decoder.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
        #expect(throws: Never.self, "no partial frame left") { try decoder.finish() }
        return frames
    }

    static func commit(_ seqs: ClosedRange<UInt64>, collection: String = "todos", origin: NodeID = origin, submitter: UInt64 = 99) -> [HubChange] {
        seqs.map { seq in
            let change = Change(id: ChangeID(origin: origin, seq: seq), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000 + seq),
                                collection: collection, recordID: "r\(seq)", kind: .insert, fields: ["n": .int(Int64(seq))])
            let frame = ServerFrame.text(FrameCodec().encode(.change(ChangeMessage(change, serverSeq: seq))))
            return HubChange(change: change, serverSeq: seq, submitter: submitter, frame: frame, nodeFrame: frame)
        }
    }

    static func serverSeqs(_ frames: [Frame]) -> [UInt64] {
        frames.compactMap { frame in
            if case .change(let message) = frame { return message.serverSeq }
            return nil
        }
    }

    @Test(arguments: [0, 1, 125, 126, 65_535, 65_536, 200_000])
    func aServerFrameIsOneFinalUnmaskedTextFrame(payloadBytes: Int) throws {
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: payloadBytes)
        let frame = try Self.decode(ServerFrame.text(payload))
        #expect(frame.fin && frame.opcode == .text && frame.maskKey == nil)
        #expect(Array(frame.data.readableBytesView) == payload)
    }

    @Test func commitsPublishedBeforeTheLoopRunsGoOutInOrderWithOneFlush() throws {
        let harness = try Harness()
        harness.delivery.subscribe("todos")
        #expect(try harness.written().count == 1, "the subscribed reply")
        let flushesBefore = harness.counter.flushes.value
        for first in stride(from: UInt64(1), through: 21, by: 10) {
            #expect(harness.delivery.publish(Self.commit(first...first + 9), connection: 7))
        }
        #expect(harness.delivery.publish(Self.commit(31...31, collection: "notes"), connection: 7))
        harness.channel.embeddedEventLoop.run()
        let write = try #require(try harness.channel.readOutbound(as: ByteBuffer.self))
        #expect(try harness.channel.readOutbound(as: ByteBuffer.self) == nil, "one write for the three commits")
        let frames = try Self.decodeAll(write).map { try FrameCodec().decode($0.unmaskedData.readableBytesView) }
        #expect(Self.serverSeqs(frames) == Array(1...30), "every subscribed change, in commit order, nothing of another collection")
        #expect(harness.counter.flushes.value == flushesBefore + 1, "one flush for the three commits")
    }

    @Test func theConnectionsOwnChangesAreAcknowledgedAndWhatItHoldsIsNotSentBack() throws {
        let harness = try Harness()
        _ = harness.delivery.beginCatchUp(vector: VersionVector([Self.other: 2]), collections: ["todos"]) { 0 }
        harness.delivery.endCatchUp()
        let own = Self.commit(1...2, submitter: 7)
        let held = Self.commit(1...2, origin: Self.other).map {
            HubChange(change: $0.change, serverSeq: $0.serverSeq + 2, submitter: 8, frame: $0.frame, nodeFrame: $0.frame)
        }
        #expect(harness.delivery.publish(own + held, connection: 7))
        let frames = try harness.written()
        #expect(frames.count == 1)
        guard case .ack(let ack) = frames.first else { Issue.record("expected an ack, got \(frames)"); return }
        #expect(ack.committed.count == 2 && ack.cursor == 4)
        #expect(ack.held[Self.other] == [1...2])
    }

    @Test func liveChangesWaitForTheCatchUpAndSkipWhatItCovers() throws {
        let harness = try Harness()
        let (head, collections) = harness.delivery.beginCatchUp(vector: VersionVector(), collections: ["todos"]) { 5 }
        #expect(head == 5 && collections == ["todos"])
        #expect(harness.delivery.publish(Self.commit(5...7), connection: 7))
        #expect(try harness.written().isEmpty, "nothing goes out ahead of the catch-up")
        let page = harness.delivery.sendCatchUpPage(.changes(ChangeBatch(changes: [], cursor: 5)))
        let pageFrames = try harness.written()
        guard case .changes(let batch) = pageFrames.first, pageFrames.count == 1 else { Issue.record("expected the page, got \(pageFrames)"); return }
        #expect(batch.cursor == 5)
        try page.wait()
        harness.delivery.endCatchUp()
        #expect(Self.serverSeqs(try harness.written()) == [6, 7], "then the live changes above the head the catch-up reached")
    }

    @Test func aNodeGetsTheNodeFrameAndAClientOfTheOriginalProtocolThePlainOne() throws {
        let signer = ChangeSigner()
        let unsigned = Change(id: ChangeID(origin: signer.nodeID, seq: 1), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000),
                              collection: "todos", recordID: "r1", kind: .insert, fields: ["n": .int(1)])
        let plain = ServerFrame.text(FrameCodec().encode(.change(ChangeMessage(unsigned, serverSeq: 1))))
        let signed = ServerFrame.text(FrameCodec().encode(.change(ChangeMessage(signer.signingOwn(unsigned), serverSeq: 1))))
        let change = HubChange(change: unsigned, serverSeq: 1, submitter: 99, frame: plain, nodeFrame: signed)
        let node = try Harness()
        _ = node.delivery.beginCatchUp(vector: VersionVector(), collections: ["todos"]) { 0 }
        node.delivery.endCatchUp()
        let client = try Harness()
        client.delivery.subscribe("todos")
        _ = try client.written()
        #expect(node.delivery.publish([change], connection: 7) && client.delivery.publish([change], connection: 8))
        guard case .change(let toNode) = try node.written().first, case .change(let toClient) = try client.written().first else {
            Issue.record("expected a change on each"); return
        }
        #expect(toNode.change.map(ChangeSigner.verify) == .valid, "a node can relay it")
        #expect(toClient.change?.signature == nil)
    }

    /// A change is encoded only when a connection is sent it, and once for all of them: a commit
    /// to a collection nobody subscribes to costs no encoding, and nodes share the plain frame when
    /// the change needs no signature of the server's.
    @Test func aChangeIsEncodedOnlyWhenSentAndOnceForAll() throws {
        let encodings = Locked<[Bool]>([])
        let change = Change(id: ChangeID(origin: Self.other, seq: 1), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000),
                            collection: "todos", recordID: "r1", kind: .insert, fields: ["n": .int(1)])
        let hubChange = HubChange(change: change, serverSeq: 1, submitter: 99) { forNode in
            encodings.withLock { $0.append(forNode) }
            return forNode ? nil : ServerFrame.text(FrameCodec().encode(.change(ChangeMessage(change, serverSeq: 1))))
        }
        let elsewhere = try Harness()
        elsewhere.delivery.subscribe("notes")
        _ = try elsewhere.written()
        #expect(elsewhere.delivery.publish([hubChange], connection: 1))
        #expect(try elsewhere.written().isEmpty && encodings.withLock { $0 }.isEmpty, "nobody subscribed: not encoded")
        let clients = try (0..<3).map { _ in try Harness() }
        for client in clients {
            client.delivery.subscribe("todos")
            _ = try client.written()
        }
        let node = try Harness()
        _ = node.delivery.beginCatchUp(vector: VersionVector(), collections: ["todos"]) { 0 }
        node.delivery.endCatchUp()
        for (index, harness) in (clients + [node]).enumerated() {
            #expect(harness.delivery.publish([hubChange], connection: UInt64(10 + index)))
            #expect(Self.serverSeqs(try harness.written()) == [1])
        }
        #expect(encodings.withLock { $0 } == [false, true], "the plain frame once; nodes asked once, and share it")
    }

    /// A publication that skipped, up to `through`, other instances' changes outside the
    /// collections wanted when it was read (`PostgresWriter.catchUp()`): a node that subscribed to
    /// another collection since, live below `through`, may lack one of them, so its connection is
    /// dropped before anything of that publication goes out (it catches up from its cursor when it
    /// reconnects); a node that wants only what was complete, or is live from above `through`,
    /// stays; a client of the original protocol is sent its collection from its subscription on,
    /// so it just gets what the publication holds.
    @Test func aNodeThatMayLackWhatAReadSkippedIsDropped() throws {
        let metrics = ServerMetrics()
        let node = try Harness(metrics: metrics)
        _ = node.delivery.beginCatchUp(vector: VersionVector(), collections: ["todos"]) { 0 }
        node.delivery.endCatchUp()
        // Its collection was complete: what the publication holds goes out, the connection stays.
        #expect(node.delivery.publishing(Self.commit(1...1), skipped: (through: 3, complete: ["todos", "notes"]), connection: 7).admitted)
        #expect(Self.serverSeqs(try node.written()) == [1] && node.channel.isActive)
        // Nothing held, nothing of its collections skipped: nothing sent, still open.
        #expect(node.delivery.publishing([], skipped: (through: 5, complete: ["todos"]), connection: 7).admitted)
        #expect(try node.written().isEmpty && node.channel.isActive)

        // Live from 10; a read that ended at 8 without `todos` skipped nothing it lacks.
        let late = try Harness(metrics: metrics)
        _ = late.delivery.beginCatchUp(vector: VersionVector(), collections: ["todos"]) { 10 }
        late.delivery.endCatchUp()
        #expect(late.delivery.publishing([], skipped: (through: 8, complete: ["notes"]), connection: 8).admitted)
        #expect(late.channel.isActive && metrics.partialResyncs.load(ordering: .relaxed) == 0)

        // `todos` not complete up to 6, above where it is live: the changes held go out neither, the
        // node's cursor must not move past a change it did not get.
        #expect(node.delivery.publishing(Self.commit(4...5), skipped: (through: 6, complete: ["notes"]), connection: 7).admitted)
        #expect(try node.written().isEmpty)
        #expect(!node.channel.isActive, "dropped, to catch up from its cursor")
        #expect(metrics.partialResyncs.load(ordering: .relaxed) == 1, "and counted")

        let client = try Harness()
        client.delivery.subscribe("todos")
        _ = try client.written()
        #expect(client.delivery.publishing(Self.commit(5...5), skipped: (through: 6, complete: ["notes"]), connection: 9).admitted)
        #expect(Self.serverSeqs(try client.written()) == [5])
        #expect(client.channel.isActive)
    }

    /// The hub's drains are asked of a loop 32 connections at a time: a full batch goes at once,
    /// the rest when the publish ends, and every connection is drained once.
    @Test func drainsAreAskedOfALoopInBatches() throws {
        let loop = EmbeddedEventLoop()
        let harnesses = try (0..<70).map { _ in try Harness(loop: loop) }
        for harness in harnesses { harness.delivery.subscribe("todos") }
        loop.run()
        for harness in harnesses { while try harness.channel.readOutbound(as: ByteBuffer.self) != nil {} }
        let drains = DrainBatch()
        for (index, harness) in harnesses.enumerated() {
            let outcome = harness.delivery.publishing(Self.commit(1...1), connection: UInt64(100 + index), drains: drains)
            #expect(outcome.admitted && outcome.sentChanges)
        }
        loop.run()
        let early = try harnesses.map { try $0.written().count }
        #expect(early == Array(repeating: 1, count: 64) + Array(repeating: 0, count: 6), "two full batches of 32 went at once")
        drains.submit()
        loop.run()
        let late = try harnesses.map { try $0.written().count }
        #expect(late == Array(repeating: 0, count: 64) + Array(repeating: 1, count: 6), "the rest when the publish ended, each once")
    }

    @Test func aReaderPastItsBoundIsClosedWithoutWhatWasQueued() throws {
        let harness = try Harness(limit: 5)
        harness.delivery.subscribe("todos")
        _ = try harness.written()
        for seq in UInt64(1)...5 { #expect(harness.delivery.publish(Self.commit(seq...seq), connection: 7)) }
        #expect(!harness.delivery.publish(Self.commit(6...6), connection: 7), "the sixth frame not on the socket is one too many")
        #expect(try harness.written().isEmpty)
        #expect(!harness.channel.isActive, "the connection is closed")
    }

    /// A socket that takes nothing until the test lets the writes through; `full` makes the channel
    /// unwritable at the next write, as NIO does when what it holds passes its high watermark.
    final class HeldWrites: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = ByteBuffer
        var held: [(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
        var full = false
        var context: ChannelHandlerContext?

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            held.append((unwrapOutboundIn(data), promise))
            if full, let channel = context.channel as? EmbeddedChannel { channel.isWritable = false }
        }

        func flush(context: ChannelHandlerContext) {}

        func letThrough() {
            guard let context else { return }
            for write in held { context.write(NIOAny(write.buffer), promise: write.promise) }
            held = []
            context.flush()
        }
    }

    /// A delivery subscribed to "todos" whose socket takes nothing until the test says.
    static func heldChannel(limit: Int) throws -> (EmbeddedChannel, HeldWrites, Delivery) {
        let channel = EmbeddedChannel()
        let held = HeldWrites()
        let delivery = Delivery(eventLoop: channel.embeddedEventLoop, limit: limit, byteLimit: 64 << 20)
        try channel.pipeline.syncOperations.addHandler(held)
        try channel.pipeline.syncOperations.addHandler(DeliveryHandler(delivery))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        delivery.subscribe("todos")
        channel.embeddedEventLoop.run()
        return (channel, held, delivery)
    }

    /// A small drain to a writable channel is released once flushed (what the channel holds is
    /// below its high watermark); one that leaves the channel unwritable, and every drain after it,
    /// count against the bound until their writes complete.
    @Test func framesCountAgainstTheBoundOnceTheChannelIsFull() throws {
        let (channel, held, delivery) = try Self.heldChannel(limit: 3)
        // Writable: five frames, one drain each, none counted once written, though none is on the socket.
        for seq in UInt64(1)...5 {
            let admitted = delivery.publish(Self.commit(seq...seq), connection: 7)
            #expect(admitted, "frame \(seq)")
            channel.embeddedEventLoop.run()
        }
        let heldWrites = held.held.count, writable = channel.isWritable
        #expect(heldWrites == 6)
        #expect(writable)
        // The next write fills the channel: that drain's frame stays counted, and so does each after it.
        held.full = true
        for seq in UInt64(6)...8 {
            let admitted = delivery.publish(Self.commit(seq...seq), connection: 7)
            #expect(admitted, "frame \(seq)")
            channel.embeddedEventLoop.run()
        }
        let full = !channel.isWritable
        #expect(full)
        let ninth = delivery.publish(Self.commit(9...9), connection: 7)
        #expect(!ninth, "three frames not on the socket, and a fourth")
        channel.embeddedEventLoop.run()
        let dropped = !channel.isActive
        #expect(dropped, "the connection is dropped")
    }

    /// The frames of a drain that filled the channel are released when a later drain's writes
    /// complete, and the connection takes frames again.
    @Test func aFullChannelsFramesAreReleasedWithTheNextWrites() throws {
        let (channel, held, delivery) = try Self.heldChannel(limit: 3)
        held.full = true
        for seq in UInt64(1)...3 {
            let admitted = delivery.publish(Self.commit(seq...seq), connection: 7)
            #expect(admitted, "frame \(seq)")
            channel.embeddedEventLoop.run()
        }
        // The socket takes everything; the channel is writable again.
        channel.isWritable = true
        held.full = false
        held.letThrough()
        channel.embeddedEventLoop.run()
        for seq in UInt64(4)...6 {
            let admitted = delivery.publish(Self.commit(seq...seq), connection: 7)
            #expect(admitted, "frame \(seq): the first three are on the socket")
            channel.embeddedEventLoop.run()
        }
        held.letThrough()
        var frames: [Frame] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            frames += try Self.decodeAll(buffer).map { try FrameCodec().decode($0.unmaskedData.readableBytesView) }
        }
        let seqs = Self.serverSeqs(frames)
        #expect(seqs == Array(1...6))
    }

    @Test func aBoundInBytesDropsAReaderOfLargeFrames() throws {
        let harness = try Harness(byteLimit: 1_000)
        harness.delivery.subscribe("todos")
        _ = try harness.written()
        var admitted = 0
        for seq in UInt64(1)...20 where harness.delivery.publish(Self.commit(seq...seq), connection: 7) { admitted += 1 }
        #expect(admitted < 20)
        _ = try harness.written()
        #expect(!harness.channel.isActive)
    }

    @Test func aCloseSendsTheErrorThenACloseFrameWithItsCodeAndNothingAfter() throws {
        let harness = try Harness()
        harness.delivery.subscribe("todos")
        _ = try harness.written()
        harness.delivery.close(with: FrameError(.authFailed, "no"), code: 1008)
        #expect(harness.delivery.publish(Self.commit(1...1), connection: 7))
        let frames = try harness.writtenFrames()
        #expect(frames.count == 2, "the error and the close, nothing after")
        let error = try #require(frames.first)
        guard case .error(let frameError) = try FrameCodec().decode(error.unmaskedData.readableBytesView) else {
            Issue.record("expected the error frame first"); return
        }
        #expect(frameError.code == .authFailed)
        let close = try #require(frames.last)
        #expect(close.opcode == .connectionClose)
        var data = close.unmaskedData
        #expect(data.readInteger(as: UInt16.self) == 1008)
        #expect(!harness.channel.isActive)
    }
}
