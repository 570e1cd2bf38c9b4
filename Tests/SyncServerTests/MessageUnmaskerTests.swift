import NIOCore
import NIOWebSocket
@testable import SyncServer
import Testing

/// The server's own unmasking gives the bytes NIO's does, for every length around the word size
/// and every key, and reuses its storage across messages of different lengths.
@Suite struct MessageUnmaskerTests {
    @Test func unmasksAsNIODoesForEveryLengthAndKey() {
        var unmasker = MessageUnmasker()
        var generator = SystemRandomNumberGenerator()
        // Longest first, then shorter: a shorter message must not see the longer one's tail.
        for length in (0...70).reversed() {
            for _ in 0..<4 {
                let key = WebSocketMaskingKey((0..<4).map { _ in UInt8.random(in: 0...255, using: &generator) })!
                let payload = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                var masked = ByteBuffer(bytes: payload)
                masked.webSocketMask(key)
                let frame = WebSocketFrame(fin: true, opcode: .text, maskKey: key, data: masked)
                let ours = unmasker.withUnmasked(frame) { Array($0) }
                #expect(ours == payload, "length \(length)")
                #expect(ours == Array(frame.unmaskedData.readableBytesView), "length \(length)")
            }
        }
    }

    @Test func anUnmaskedFrameIsPassedAsItIs() {
        var unmasker = MessageUnmasker()
        let frame = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: #"{"type":"ping"}"#))
        #expect(unmasker.withUnmasked(frame) { String(decoding: $0, as: UTF8.self) } == #"{"type":"ping"}"#)
    }

    /// A message above what is kept between messages is unmasked whole, and a smaller one after
    /// it as well.
    @Test func aMessageLargerThanTheKeptStorageIsUnmaskedWhole() {
        var unmasker = MessageUnmasker()
        for length in [MessageUnmasker.keptBytes + 13, 100, MessageUnmasker.keptBytes, 7] {
            let key = WebSocketMaskingKey([0x12, 0x34, 0x56, 0x78])!
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            var masked = ByteBuffer(bytes: payload)
            masked.webSocketMask(key)
            let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: key, data: masked)
            #expect(unmasker.withUnmasked(frame) { Array($0) } == payload, "length \(length)")
        }
    }
}
