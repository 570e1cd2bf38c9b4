import SyncServer
import SyncTesting
import Testing

/// The WebSocket protocol as the server's own reader speaks it (RFC 6455): pings answered, fragments
/// joined, a close echoed, a message over the limit refused with 1009.
@Suite struct WebSocketProtocolTests {
    @Test func aPingIsAnsweredWithAPongCarryingItsPayload() async throws {
        try await withServer { server, _ in
            let client = try await BareWebSocket.connect(port: server.port)
            defer { client.close() }
            try await client.send(opcode: 0x9, payload: Array("are you there".utf8))
            let pong = try await client.nextFrame()
            #expect(pong.opcode == 0xA)
            #expect(pong.payload == Array("are you there".utf8))
        }
    }

    @Test func aMessageInFragmentsIsJoinedAndAnswered() async throws {
        try await withServer { server, _ in
            let client = try await BareWebSocket.connect(port: server.port)
            defer { client.close() }
            try await client.send(opcode: 0x1, payload: Array(#"{"type""#.utf8), fin: false)
            // A control frame may come between the fragments of a message.
            try await client.send(opcode: 0x9, payload: [7])
            try await client.send(opcode: 0x0, payload: Array(#":"pi"#.utf8), fin: false)
            try await client.send(opcode: 0x0, payload: Array(#"ng"}"#.utf8))
            let pong = try await client.nextFrame()
            #expect(pong.opcode == 0xA && pong.payload == [7])
            let answer = try await client.nextFrame()
            #expect(answer.opcode == 0x1)
            #expect(String(decoding: answer.payload, as: UTF8.self).contains(#""type":"pong""#))
        }
    }

    @Test func aCloseIsAnsweredWithItsCodeAndTheConnectionEnds() async throws {
        try await withServer { server, _ in
            let client = try await BareWebSocket.connect(port: server.port)
            defer { client.close() }
            try await client.send(opcode: 0x8, payload: [0x03, 0xE9])  // 1001, going away
            let close = try await client.nextFrame()
            #expect(close.opcode == 0x8)
            #expect(Array(close.payload.prefix(2)) == [0x03, 0xE9])
            #expect(try await client.readAllUntilClosed(limit: 1 << 16).isEmpty, "nothing after the close, then the end")
        }
    }

    @Test func aMessageOverTheLimitInFragmentsIsRefusedWith1009() async throws {
        var limits = ServerLimits()
        limits.maxFrameBytes = 100
        try await withServer(limits: limits) { server, _ in
            let client = try await BareWebSocket.connect(port: server.port)
            defer { client.close() }
            // Each fragment is under the limit; the message they make is not.
            try await client.send(opcode: 0x1, payload: Array(repeating: UInt8(ascii: "a"), count: 80), fin: false)
            try await client.send(opcode: 0x0, payload: Array(repeating: UInt8(ascii: "a"), count: 80))
            let close = try await client.nextFrame()
            #expect(close.opcode == 0x8)
            #expect(Array(close.payload.prefix(2)) == [0x03, 0xF1])
            #expect(try await client.readAllUntilClosed(limit: 1 << 16).isEmpty)
            // The server goes on serving others.
            let other = try await BareWebSocket.connect(port: server.port)
            defer { other.close() }
            try await other.send(opcode: 0x9, payload: [1])
            #expect(try await other.nextFrame().opcode == 0xA)
        }
    }

    @Test func aClientWhoseSocketEndsIsClosedAtOnceNotAtTheIdleTimeout() async throws {
        var limits = ServerLimits()
        limits.idleTimeout = .seconds(600)
        try await withServer(limits: limits) { server, _ in
            let client = try await BareWebSocket.connect(port: server.port)
            defer { client.close() }
            try await client.send(opcode: 0x9, payload: [1])
            #expect(try await client.nextFrame().opcode == 0xA, "upgraded and served")
            client.closeSending()
            // Throws after 20 s without the server's close.
            #expect(try await client.readAllUntilClosed(limit: 1 << 16).isEmpty)
        }
    }

    @Test func onShutdownEachConnectionIsToldWhyAndClosedBeforeTheServerStops() async throws {
        try await withTemporaryDirectory { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            let client = try await BareWebSocket.connect(port: server.port)
            defer { client.close() }
            try await client.send(opcode: 0x9, payload: [1])
            #expect(try await client.nextFrame().opcode == 0xA, "upgraded and served")
            // No task waits on the connection: the server itself must find it, say goodbye and close it.
            await server.stop()
            let frames = [try await client.nextFrame(), try await client.nextFrame()]
            #expect(try await client.readAllUntilClosed(limit: 1 << 16).isEmpty, "nothing after the close, then the end")
            #expect(frames.map(\.opcode) == [0x1, 0x8], "an error, then a close frame")
            let error = String(decoding: frames.first?.payload ?? [], as: UTF8.self)
            #expect(error.contains(#""code":"SERVER_ERROR""#) && error.contains("shutting down"), "told why: \(error)")
            #expect(frames.last.map { Array($0.payload.prefix(2)) } == [0x03, 0xE8], "a normal closure (1000)")
        }
    }
}
