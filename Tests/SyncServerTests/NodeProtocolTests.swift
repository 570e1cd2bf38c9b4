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

    @Test func batchesAreAcknowledgedWithACursorAndDuplicatesWithout() async throws {
        try await withServer(limits: Self.unsignedAccepted) { server, _ in
            let node = try await RawWebSocket.connect(server.webSocketURL)
            var incoming = node.messages.makeAsyncIterator()
            try await node.send(hello("node-a", cursor: 0))
            let reply = try codec.decode(await incoming.next(ofType: "hello") ?? "")
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
            let writer = try await RawWebSocket.connect(server.webSocketURL)
            var writerIn = writer.messages.makeAsyncIterator()
            try await writer.send(hello("node-w", cursor: 0))
            _ = await writerIn.next(ofType: "hello")
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
