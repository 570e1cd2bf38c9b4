import SyncCore
import SyncServer
import SyncTesting
import Testing

@Suite struct AuthTests {
    let authority = TokenAuthority(tokens: [
        "writer-token-1": TokenRights(name: "writer", read: .all, write: .only(["todos"])),
        "reader-token-1": TokenRights(name: "reader", read: .only(["todos"]), write: .only([])),
    ])

    @Test func aWrongTokenIsRefusedOnWebSocketAndREST() async throws {
        try await withServer(authority: authority) { server, _ in
            let client = try await RawWebSocket.connect(server.webSocketURL + "?token=wrong-token")
            var incoming = client.messages.makeAsyncIterator()
            #expect(parse(await incoming.next(ofType: "error"))?["code"] == "AUTH_FAILED")
            #expect(await incoming.next() == nil, "the server closes the connection")
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
