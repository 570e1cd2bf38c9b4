import Logging
import NIOWebSocket
@testable import SyncLayer
import SyncCore
import SyncStore
import SyncTesting
import Testing
import WSCore

/// A connection without sockets: the test plays the server, delivering frames to the session and
/// reading what the session wrote.
final class InMemoryMessageChannel: MessageChannel {
    private let incoming: AsyncThrowingStream<WebSocketMessage, any Error>
    private let incomingContinuation: AsyncThrowingStream<WebSocketMessage, any Error>.Continuation
    /// What the session wrote, in order; finishes when the session closes the connection.
    let written: AsyncStream<WebSocketMessage>
    private let writtenContinuation: AsyncStream<WebSocketMessage>.Continuation

    init() {
        (incoming, incomingContinuation) = AsyncThrowingStream.makeStream()
        (written, writtenContinuation) = AsyncStream.makeStream()
    }

    func messages(maxSize: Int) -> AsyncThrowingStream<WebSocketMessage, any Error> { incoming }

    func write(_ message: WebSocketMessage) async throws { writtenContinuation.yield(message) }

    func close(_ code: WebSocketErrorCode, reason: String?) async throws { writtenContinuation.finish() }

    /// The server sends `frame`.
    func deliver(_ frame: Frame) { incomingContinuation.yield(.text(FrameCodec().encodeString(frame))) }

    /// The connection's input ends (what aborting a real connection does).
    func endInput() { incomingContinuation.finish() }
}

/// The next frame a session wrote to an ``InMemoryMessageChannel``.
func next(_ frames: inout AsyncStream<WebSocketMessage>.Iterator) async throws -> Frame {
    let message = try #require(await frames.next(), "the session wrote nothing more")
    return try FrameCodec().decode(message)
}

@Suite struct RealtimeSessionTests {
    @Test func aSessionSaysHelloSendsItsOutboxAppliesTheServersChangesAndLetsAckedChangesGo() async throws {
        try await withTemporaryDirectory(prefix: "session") { directory in
            let configuration = SyncConfiguration(databasePath: directory.file("node.sqlite"), baseURL: "http://127.0.0.1:9", collections: ["todos"])
            let node = try await SyncNode.open(configuration)
            defer { Task { await node.close() } }
            try await node.collection("todos").save(["text": "written offline"], id: "mine")
            let session = RealtimeSession(engine: node.engine, configuration: configuration, logger: Logger(label: "test"))
            let channel = InMemoryMessageChannel()
            let handshakes = Locked(0)
            let running = Task {
                try await session.run(channel: channel, abort: { channel.endInput() }) { _ in handshakes.withLock { $0 += 1 } }
            }
            var frames = channel.written.makeAsyncIterator()

            // The node speaks first: hello with its vector, then a subscription per collection.
            guard case .hello(let hello) = try await next(&frames) else { Issue.record("no hello first"); return }
            #expect(hello.nodeID == node.nodeID)
            #expect(hello.vector[node.nodeID] == 1)
            guard case .subscribe(let collection) = try await next(&frames) else { Issue.record("no subscribe"); return }
            #expect(collection == "todos")

            // The server answers; the node sends its outbox.
            let server = ChangeSigner()
            channel.deliver(.hello(Hello(nodeID: server.nodeID, vector: VersionVector(), cursor: 0, time: nil, collections: ["todos"])))
            guard case .change(let sent) = try await next(&frames) else { Issue.record("the outbox was not sent"); return }
            #expect(sent.recordID == "mine" && sent.change?.signature != nil)
            #expect(handshakes.withLock { $0 } == 1)

            // The server acknowledges it and sends another node's change.
            let id = try #require(sent.change?.id)
            channel.deliver(.ack(Ack(committed: [id: 1], cursor: 1)))
            let other = ChangeSigner()
            let theirs = other.signingOwn(Change(id: ChangeID(origin: other.nodeID, seq: 1), hlc: HLCTimestamp(wallMillis: 1_000), collection: "todos",
                                                 recordID: "theirs", kind: .insert, fields: ["text": "from elsewhere"]))
            channel.deliver(.change(ChangeMessage(theirs, serverSeq: 2)))
            let settled = try await waitUntil(node, timeout: .seconds(10)) {
                let applied = try await node.collection("todos").get("theirs") != nil
                let waiting = try await node.store.outboxCount()
                return applied && waiting == 0
            }
            #expect(settled, "the server's change is applied and the acknowledged one left the outbox")
            let position = try await node.store.serverPosition()
            #expect(position.server == server.nodeID && position.cursor == 2, "the cursor moved with the applied change")

            // A local write while the session runs goes out at once.
            try await node.collection("todos").save(["text": "live"], id: "live")
            guard case .change(let live) = try await next(&frames) else { Issue.record("the live change was not sent"); return }
            #expect(live.recordID == "live")

            running.cancel()
            _ = try? await running.value
        }
    }
}
