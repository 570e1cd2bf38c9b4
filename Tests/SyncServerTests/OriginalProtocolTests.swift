import SyncCore
import SyncServer
import SyncTesting
import Testing

/// A client that speaks exactly the original SDK's documented frames and REST shape works against our server.
@Suite struct OriginalProtocolTests {
    @Test func changesFlowBetweenOriginalClientsOverWebSocket() async throws {
        try await withServer { server, _ in
            let alice = try await RawWebSocket.connect(server.webSocketURL)
            let bob = try await RawWebSocket.connect(server.webSocketURL)
            var aliceIn = alice.messages.makeAsyncIterator()
            var bobIn = bob.messages.makeAsyncIterator()
            try await alice.send(#"{"type":"subscribe","collection":"todos"}"#)
            try await bob.send(#"{"type":"subscribe","collection":"todos"}"#)
            #expect(parse(await aliceIn.next(ofType: "subscribed"))?["collection"] == "todos")
            #expect(parse(await bobIn.next(ofType: "subscribed"))?["collection"] == "todos")

            try await alice.send(#"{"type":"insert","collection":"todos","recordId":"t1","data":{"text":"Milk","done":false},"timestamp":"2026-02-24T10:30:00"}"#)
            let insert = parse(await bobIn.next(ofType: "insert"))
            #expect(insert?["recordId"] == "t1" && insert?["data"] == ["text": "Milk", "done": false])
            #expect(insert?["metadata"]?["version"]?.intValue == 1)

            try await alice.send(#"{"type":"update","collection":"todos","recordId":"t1","data":{"done":true}}"#)
            let update = parse(await bobIn.next(ofType: "update"))
            #expect(update?["data"] == ["done": true], "an update carries only the changed fields")

            try await alice.send(#"{"type":"ping"}"#)
            // Alice was sent nothing for her own writes, as the original servers send the sender
            // nothing: no echo, and no `ack` (a frame of our protocol that hers does not have).
            #expect(parse(await aliceIn.next())?["type"] == "pong")
            try await bob.send(#"{"type":"delete","collection":"todos","recordId":"t1"}"#)
            let next = parse(await aliceIn.next())
            #expect(next?["type"] == "delete" && next?["recordId"] == "t1", "alice's first change frame is bob's delete, not an echo")
            await alice.close()
            await bob.close()
        }
    }

    @Test func updatesMergeOnTheServerInsteadOfReplacing() async throws {
        try await withServer { server, _ in
            let client = try await RawWebSocket.connect(server.webSocketURL)
            var incoming = client.messages.makeAsyncIterator()
            try await client.send(#"{"type":"insert","collection":"todos","recordId":"t1","data":{"text":"Milk","done":false}}"#)
            try await client.send(#"{"type":"update","collection":"todos","recordId":"t1","data":{"done":true}}"#)
            try await client.send(#"{"type":"ping"}"#)
            _ = await incoming.next(ofType: "pong")
            let pulled = try await http(.GET, "\(server.baseURL)/sync/todos?since=2020-01-01T00:00:00Z&limit=100&offset=0")
            #expect(pulled.status == 200)
            #expect(pulled.json?["records"]?.arrayValue?.first?["data"] == ["text": "Milk", "done": true])
            await client.close()
        }
    }

    @Test func restShapeOfTheOriginalClient() async throws {
        try await withServer { server, _ in
            let post = try await http(.POST, "\(server.baseURL)/sync/notes", body: #"{"recordId":"n1","data":{"title":"A","body":"x"},"timestamp":"2026-01-01T10:00:00"}"#)
            #expect(post.status == 200)
            let patch = try await http(.PATCH, "\(server.baseURL)/sync/notes/n1", body: #"{"delta":{"title":"B"},"baseVersion":1,"timestamp":"2026-01-01T10:01:00"}"#)
            #expect(patch.status == 200)
            _ = try await http(.POST, "\(server.baseURL)/sync/notes", body: #"{"recordId":"n2","data":{"title":"C"},"timestamp":"2026-01-01T10:02:00"}"#)
            let page = try await http(.GET, "\(server.baseURL)/sync/notes?since=2020-01-01T00:00:00&limit=100&offset=0")
            let records = page.json?["records"]?.arrayValue ?? []
            #expect(records.map { $0["recordId"] } == ["n1", "n2"])
            #expect(records.first?["data"] == ["title": "B", "body": "x"])
            #expect(records.first?["updatedAt"]?.stringValue.flatMap { ISO8601.millis(from: $0) } != nil)
            let delete = try await http(.DELETE, "\(server.baseURL)/sync/notes/n1")
            #expect(delete.status == 200)
            let after = try await http(.GET, "\(server.baseURL)/sync/notes?limit=100&offset=0")
            #expect(after.json?["records"]?.arrayValue?.map { $0["recordId"] } == ["n2"])
        }
    }

    @Test func malformedFramesGetAnErrorAndTheConnectionStaysUp() async throws {
        try await withServer { server, _ in
            let client = try await RawWebSocket.connect(server.webSocketURL)
            var incoming = client.messages.makeAsyncIterator()
            for bad in ["not json", #"{"type":"insert","collection":"x"}"#, #"{"type":"launch"}"#, "[1,2,3]", #"{"type":"subscribe","collection":"bad name"}"#] {
                try await client.send(bad)
                let error = parse(await incoming.next(ofType: "error"))
                #expect(error?["code"] == "INVALID_MESSAGE", "for \(bad)")
            }
            try await client.send(#"{"type":"ping"}"#)
            #expect(await incoming.next(ofType: "pong") != nil)
            let metrics = try await http(.GET, "\(server.baseURL)/metrics.json")
            #expect(metrics.json?["framesRejected"]?.intValue == 5)
            await client.close()
        }
    }
}
