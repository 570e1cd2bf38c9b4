import SyncCore
import SyncServer
import SyncTesting
import Testing

@Suite struct AuthTests {
    let authority = TokenAuthority(tokens: [
        "writer-token-1": TokenRights(name: "writer", read: .all, write: .only(["todos"])),
        "reader-token-1": TokenRights(name: "reader", read: .only(["todos"]), write: .only([])),
        "r+d/r=t&ken 2": TokenRights(name: "escaped", read: .only(["todos"]), write: .only([])),
    ])

    @Test func aTokenWithReservedCharactersIsReadFromTheQueryPercentDecoded() async throws {
        try await withServer(authority: authority) { server, _ in
            // As the node's realtime link writes it (PercentEncoding), read back by the server.
            let client = try await RawWebSocket.connect(server.webSocketURL + "?token=" + PercentEncoding.encode("r+d/r=t&ken 2"))
            var incoming = client.messages.makeAsyncIterator()
            try await client.send(#"{"type":"subscribe","collection":"todos"}"#)
            #expect(await incoming.next(ofType: "subscribed") != nil)
            await client.close()
        }
    }

    @Test func aWrongTokenIsRefusedOnWebSocketAndREST() async throws {
        try await withServer(authority: authority) { server, _ in
            // A bare socket, not swift-websocket's client: it can miss frames that follow the
            // upgrade response at once, as these do (the server speaks first here).
            let client = try await BareWebSocket.connect(port: server.port, path: "/ws?token=wrong-token")
            defer { client.close() }
            // Everything until the server closes the connection: the error, then a close frame.
            let sent = try await client.readAllUntilClosed(limit: 1 << 16)
            #expect(sent.firstRange(of: Array(#""code":"AUTH_FAILED""#.utf8)) != nil, "the server says why: \(String(decoding: sent, as: UTF8.self))")
            let rest = try await http(.GET, "\(server.baseURL)/sync/todos", token: "wrong-token")
            #expect(rest.status == 401 && rest.json?["code"] == "AUTH_FAILED")
            let missing = try await http(.GET, "\(server.baseURL)/sync/todos")
            #expect(missing.status == 401)
        }
    }

    @Test func anAuthFrameAuthenticatesAConnectionWithoutAToken() async throws {
        try await withServer(authority: authority) { server, _ in
            let client = try await RawWebSocket.connect(server.webSocketURL)
            var incoming = client.messages.makeAsyncIterator()
            try await client.send(#"{"type":"auth","token":"reader-token-1"}"#)
            #expect(await incoming.next(ofType: "authenticated") != nil)
            try await client.send(#"{"type":"subscribe","collection":"todos"}"#)
            #expect(await incoming.next(ofType: "subscribed") != nil)
            await client.close()
        }
    }

    /// A node tells our server from a backend of the original protocol by the first frame back
    /// (Docs/Protocol.md): `hello` comes first even when the hello names a collection it may not read.
    @Test func helloIsAnsweredFirstEvenWithACollectionTheTokenCannotRead() async throws {
        try await withServer(authority: authority) { server, _ in
            let reader = try await RawWebSocket.connect(server.webSocketURL + "?token=reader-token-1")
            var incoming = reader.messages.makeAsyncIterator()
            let hello = FrameCodec().encodeString(.hello(Hello(nodeID: ChangeSigner().nodeID, vector: VersionVector(), cursor: nil,
                                                               time: nil, collections: ["secrets", "todos"])))
            try await reader.send(hello)
            try await reader.send(#"{"type":"ping"}"#)
            let first = parse(await incoming.next())
            #expect(first?["type"] == "hello")
            #expect(parse(await incoming.next())?["code"] == "UNAUTHORIZED", "then the refusal of \"secrets\"")
            await reader.close()
        }
    }

    @Test func rightsLimitReadsAndWritesPerCollection() async throws {
        try await withServer(authority: authority) { server, _ in
            let reader = try await RawWebSocket.connect(server.webSocketURL + "?token=reader-token-1")
            var incoming = reader.messages.makeAsyncIterator()
            try await reader.send(#"{"type":"insert","collection":"todos","recordId":"x","data":{"a":1}}"#)
            #expect(parse(await incoming.next(ofType: "error"))?["code"] == "UNAUTHORIZED")
            try await reader.send(#"{"type":"subscribe","collection":"secrets"}"#)
            #expect(parse(await incoming.next(ofType: "error"))?["code"] == "UNAUTHORIZED")
            let write = try await http(.POST, "\(server.baseURL)/sync/todos", body: #"{"recordId":"x","data":{"a":1}}"#, token: "reader-token-1")
            #expect(write.status == 403 && write.json?["code"] == "UNAUTHORIZED")
            let readSecret = try await http(.GET, "\(server.baseURL)/sync/secrets", token: "reader-token-1")
            #expect(readSecret.status == 403)
            let writeOther = try await http(.POST, "\(server.baseURL)/sync/notes", body: #"{"recordId":"x","data":{"a":1}}"#, token: "writer-token-1")
            #expect(writeOther.status == 403)
            let allowed = try await http(.POST, "\(server.baseURL)/sync/todos", body: #"{"recordId":"x","data":{"a":1}}"#, token: "writer-token-1")
            #expect(allowed.status == 200)
            let readBack = try await http(.GET, "\(server.baseURL)/sync/todos", token: "reader-token-1")
            #expect(readBack.json?["records"]?.arrayValue?.count == 1)
            await reader.close()
        }
    }
}
