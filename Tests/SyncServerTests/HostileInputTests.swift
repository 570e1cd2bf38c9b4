import SyncCore
import SyncServer
import SyncTesting
import Testing

/// Hostile input against the server (`Docs/Security.md`): each attack gets a clear error or a closed
/// connection, the server stays up for everyone else, and an acknowledged write is still there.
@Suite struct HostileInputTests {
    @Test func hugeFramesDeepNestingAndFloodsAreRefusedAndNothingAcknowledgedIsLost() async throws {
        var limits = ServerLimits()
        limits.maxFrameBytes = 64 << 10
        limits.framesPerSecond = 5
        limits.frameBurst = 10
        try await withServer(limits: limits) { server, _ in
            // An acknowledged write (the original REST route answers 200 once it is committed).
            let post = try await http(.POST, "\(server.baseURL)/sync/todos", body: #"{"recordId":"kept","data":{"text":"must survive"},"timestamp":"2026-01-01T10:00:00"}"#)
            #expect(post.status == 200)

            // Nesting 5,000 deep, inside the size limit: refused by the depth limit, not the stack.
            let deep = try await RawWebSocket.connect(server.webSocketURL)
            var deepIn = deep.messages.makeAsyncIterator()
            let nested = #"{"type":"insert","collection":"todos","recordId":"d","data":{"x":"# + String(repeating: "[", count: 5_000)
                + String(repeating: "]", count: 5_000) + "}}"
            try await deep.send(nested)
            #expect(parse(await deepIn.next(ofType: "error"))?["code"] == "INVALID_MESSAGE")

            // A frame over the size limit: refused (TOO_LARGE) or the connection is closed.
            let huge = try await RawWebSocket.connect(server.webSocketURL)
            var hugeIn = huge.messages.makeAsyncIterator()
            try? await huge.send(#"{"type":"insert","collection":"todos","recordId":"h","data":{"x":""# + String(repeating: "a", count: 200_000) + #""}}"#)
            if let reply = await hugeIn.next(ofType: "error") {
                #expect(parse(reply)?["code"] == "TOO_LARGE")
            }

            // A flood of valid frames: past the burst, RATE_LIMIT_EXCEEDED.
            let flood = try await RawWebSocket.connect(server.webSocketURL)
            var floodIn = flood.messages.makeAsyncIterator()
            for _ in 0..<50 { try await flood.send(#"{"type":"ping"}"#) }
            #expect(parse(await floodIn.next(ofType: "error"))?["code"] == "RATE_LIMIT_EXCEEDED")

            // Everyone else is served; nothing of the attacks was stored; the acknowledged write is kept.
            let client = try await RawWebSocket.connect(server.webSocketURL)
            var clientIn = client.messages.makeAsyncIterator()
            try await client.send(#"{"type":"ping"}"#)
            #expect(await clientIn.next(ofType: "pong") != nil)
            let records = try await http(.GET, "\(server.baseURL)/sync/todos?limit=100&offset=0").json?["records"]?.arrayValue ?? []
            #expect(records.map { $0["recordId"] } == ["kept"])
            #expect(records.first?["data"] == ["text": "must survive"])
            let metrics = try await http(.GET, "\(server.baseURL)/metrics.json").json
            #expect((metrics?["rateLimited"]?.intValue ?? 0) > 0)
            for socket in [deep, huge, flood, client] { await socket.close() }
        }
    }
}
