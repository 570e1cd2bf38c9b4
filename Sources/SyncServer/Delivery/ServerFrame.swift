import NIOCore

/// Server-to-client WebSocket frames encoded once, header and payload in one buffer.
///
/// A server frame carries no mask (RFC 6455 §5.1), so the same bytes are valid on every
/// connection: the hub encodes a committed change once and every subscriber's channel writes that
/// one buffer. Written below NIO's WebSocket frame encoder (see ``DeliveryHandler``), these
/// frames must be complete and final; they never interleave with the encoder's frames because
/// both are written whole from the connection's event loop.
enum ServerFrame {
    private static let allocator = ByteBufferAllocator()

    /// A final text frame holding `payload` (UTF-8 JSON).
    static func text(_ payload: [UInt8]) -> ByteBuffer {
        frame(opcode: 0x1, payload: payload)
    }

    /// A close frame with `code` and a reason of at most 123 bytes (the control-frame limit).
    static func close(code: UInt16, reason: String) -> ByteBuffer {
        var payload: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xff)]
        payload.append(contentsOf: reason.utf8.prefix(123))
        return frame(opcode: 0x8, payload: payload)
    }

    /// A pong answering a ping: its payload (at most 125 bytes, the control-frame limit) echoed.
    static func pong(_ payload: ByteBuffer) -> ByteBuffer {
        frame(opcode: 0xA, payload: Array(payload.readableBytesView.prefix(125)))
    }

    private static func frame(opcode: UInt8, payload: [UInt8]) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: payload.count + 10)
        buffer.writeInteger(0x80 | opcode)
        switch payload.count {
        case ..<126:
            buffer.writeInteger(UInt8(payload.count))
        case ..<65_536:
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(payload.count))
        default:
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(payload.count))
        }
        buffer.writeBytes(payload)
        return buffer
    }
}
