import SyncCore
import SyncServer
import SyncTesting
import Testing

/// Our extensions: hello, catch-up by cursor and vector, batches, acks, dedupe by change id.
@Suite struct NodeProtocolTests {
    let codec = FrameCodec()

    func change(_ origin: String, _ seq: UInt64, _ record: String, _ fields: JSONObject = ["v": 1]) -> Change {
        Change(id: ChangeID(origin: NodeID(origin)!, seq: seq), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000 + seq),
               collection: "todos", recordID: record, kind: .insert, fields: fields)
    }

    /// These tests write changes by hand, for named origins, unsigned (signatures: `SignatureTests`).
    static let unsignedAccepted: ServerLimits = {
        var limits = ServerLimits()
        limits.signatures = .checkedWhenPresent
        return limits
    }()

    func hello(_ node: String, cursor: UInt64, owner: NodeID? = nil, vector: VersionVector = VersionVector()) -> String {
        codec.encodeString(.hello(Hello(nodeID: NodeID(node)!, vector: vector, cursor: cursor, cursorOwner: owner, collections: ["todos"])))
    }

    /// A raw connection that said `hello` as `node` (cursor 0) and read the server's `hello`.
    func saidHello(_ server: TestServer, as node: String) async throws -> (RawWebSocket, AsyncStream<String>.Iterator, String?) {
        let socket = try await RawWebSocket.connect(server.webSocketURL)
        var incoming = socket.messages.makeAsyncIterator()
        try await socket.send(hello(node, cursor: 0))
        let reply = await incoming.next(ofType: "hello")
        return (socket, incoming, reply)
    }

    @Test func batchesAreAcknowledgedWithACursorAndDuplicatesWithout() async throws {
        try await withServer(limits: Self.unsignedAccepted) { server, _ in
            var (node, incoming, first) = try await saidHello(server, as: "node-a")
            let reply = try codec.decode(first ?? "")
            guard case .hello(let serverHello) = reply else { Issue.record("no hello"); return }
            #expect(serverHello.vector == VersionVector())
            let batch = ChangeBatch(changes: [change("node-a", 1, "r1"), change("node-a", 2, "r2")].map { ChangeMessage($0) })
            try await node.send(codec.encodeString(.changes(batch)))
            guard case .ack(let ack) = try codec.decode(await incoming.next(ofType: "ack") ?? "") else { Issue.record("no ack"); return }
            #expect(ack.committed.count == 2 && ack.cursor == 2)
            // The same change again: acknowledged at once with its first sequence, and no cursor.
            try await node.send(codec.encodeString(.change(ChangeMessage(change("node-a", 1, "r1")))))
            guard case .ack(let again) = try codec.decode(await incoming.next(ofType: "ack") ?? "") else { Issue.record("no ack"); return }
            #expect(again.committed == [ChangeID(origin: NodeID("node-a")!, seq: 1): 1] && again.cursor == nil)
            let metrics = try await http(.GET, "\(server.baseURL)/metrics.json")
            #expect(metrics.json?["changesCommitted"] == 2 && metrics.json?["duplicatesDropped"] == 1)
            await node.close()
        }
    }

    @Test func helloCatchesUpFromTheCursorSkippingWhatTheVectorCovers() async throws {
        try await withServer(limits: Self.unsignedAccepted) { server, _ in
            var (writer, writerIn, _) = try await saidHello(server, as: "node-w")
            let changes = (1...5).map { change("node-w", UInt64($0), "r\($0)") } + [change("node-x", 1, "x1")]
            try await writer.send(codec.encodeString(.changes(ChangeBatch(changes: changes.map { ChangeMessage($0) }))))
            _ = await writerIn.next(ofType: "ack")

            // A reader that already has node-w up to 4 (through the mesh, say) and pulled up to server seq 2.
            let reader = try await RawWebSocket.connect(server.webSocketURL)
            var readerIn = reader.messages.makeAsyncIterator()
            try await reader.send(hello("node-r", cursor: 2, owner: server.server.serverID, vector: VersionVector([NodeID("node-w")!: 4])))
            _ = await readerIn.next(ofType: "hello")
            guard case .changes(let catchUp) = try codec.decode(await readerIn.next(ofType: "changes") ?? "") else { Issue.record("no catch-up"); return }
            #expect(catchUp.changes.compactMap(\.changeID).map(\.description) == ["node-w:5", "node-x:1"])
            #expect(catchUp.cursor == 6)

            // Then live: a new change reaches the reader with its server sequence.
            try await writer.send(codec.encodeString(.change(ChangeMessage(change("node-w", 6, "r6")))))
            guard case .change(let live) = try codec.decode(await readerIn.next(ofType: "insert") ?? "") else { Issue.record("no live change"); return }
            #expect(live.changeID?.seq == 6 && live.serverSeq == 7)
            await writer.close()
            await reader.close()
        }
    }

    /// A node that said `hello` and then took the server for a backend of the original protocol (its
    /// `hello` answered late) writes records' states without change ids: refused with `SERVER_ERROR`
    /// (which makes it write them again), never stored as the server's own changes. A change of its
    /// own in the original frame (change id in `metadata`) is still committed as the change it is.
    @Test func aNodeThatSaidHelloIsNotStoredWritesOfTheOriginalProtocol() async throws {
        try await withServer(limits: Self.unsignedAccepted) { server, _ in
            var (node, incoming, _) = try await saidHello(server, as: "node-s")
            _ = await incoming.next(ofType: "changes")  // the (empty) catch-up
            let state = ChangeMessage(kind: .insert, collection: "todos", recordID: "r1", data: ["text": "a state"],
                                      timestamp: "2026-01-01T00:00:00.000Z", metadata: [:])
            try await node.send(codec.encodeString(.change(state)))
            try await node.send(codec.encodeString(.ping(time: nil)))
            // Answered in order: the refusal before the pong (stored, it would get nothing).
            guard case .error(let error) = try codec.decode(await incoming.next() ?? "") else { Issue.record("no error before the pong"); return }
            #expect(error.code == .serverError, "\(error)")
            try await node.send(codec.encodeString(.change(ChangeMessage(change("node-s", 1, "r2")))))
            guard case .ack(let ack) = try codec.decode(await incoming.next(ofType: "ack") ?? "") else { Issue.record("no ack"); return }
            #expect(ack.committed.keys.map(\.description) == ["node-s:1"])
            #expect(try await server.store.changeCount() == 1, "the state was not stored")
            #expect(server.store.heldVector[server.server.serverID!] == 0, "no change of the server's own")

            // A client of the original protocol (no hello) writing the same is stored, as before.
            let original = try await RawWebSocket.connect(server.webSocketURL)
            try await original.send(codec.encodeString(.change(state)))
            let stored = try await server.waitUntil { try await server.store.changeCount() == 2 }
            #expect(stored)
            await original.close()
            await node.close()
        }
    }

    @Test func pushAndPullOverREST() async throws {
        try await withServer(limits: Self.unsignedAccepted) { server, _ in
            let frames = [change("node-p", 1, "a"), change("node-p", 2, "b")].map { JSONValue.object(FrameCodec.object(for: .change(ChangeMessage($0)))) }
            let push = try await http(.POST, "\(server.baseURL)/sync/_push", body: JSONValue.object(["changes": .array(frames)]).canonicalString)
            #expect(push.status == 200 && push.json?["committed"]?.objectValue?.count == 2)
            let serverID = try #require(server.server.serverID)
            let pull = try await http(.POST, "\(server.baseURL)/sync/_pull", body: #"{"cursor":1,"cursorFor":"\#(serverID)","collections":["todos"]}"#)
            #expect(pull.json?["changes"]?.arrayValue?.map { $0["recordId"] } == ["b"])
            #expect(pull.json?["cursor"] == 2 && pull.json?["more"] == false)
            #expect(pull.json?["vector"] == ["node-p": 2])
        }
    }
}
