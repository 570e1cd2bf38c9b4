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
}
