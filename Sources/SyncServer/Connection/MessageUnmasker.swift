import NIOCore
import NIOWebSocket

/// Unmasks a client's WebSocket message into a buffer kept for the connection's next ones.
///
/// A client masks every frame it sends (RFC 6455 §5.3). NIO's `unmaskedData` copies the payload
/// into a new buffer and unmasks it a byte at a time, for every message; here the payload is
/// unmasked eight bytes at a time into storage that is reused, so that reading a message allocates
/// nothing once the buffer is as large as the messages. The storage kept is bounded
/// (``keptBytes``): a larger message, rare, is unmasked into a buffer of its own, so that one big
/// message does not make every idle connection cost a megabyte.
struct MessageUnmasker {
    /// The most storage kept between messages: a batch of 100 changes fits.
    static let keptBytes = 64 * 1024
    private var storage: [UInt8] = []

    /// Calls `body` with the payload of `frame`, unmasked.
    mutating func withUnmasked<Result>(_ frame: WebSocketFrame, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        // Extension data (none is negotiated) would shift the mask: NIO's own path handles that.
        guard let key = frame.maskKey, frame.extensionData == nil else {
            return frame.unmaskedData.withUnsafeReadableBytes(body)
        }
        let count = frame.data.readableBytes
        if count > Self.keptBytes {
            var own = [UInt8](repeating: 0, count: count)
            return own.withUnsafeMutableBytes { output in
                frame.data.withUnsafeReadableBytes { input in Self.unmask(input, with: key, into: output) }
                return body(UnsafeRawBufferPointer(output))
            }
        }
        if storage.count < count { storage = [UInt8](repeating: 0, count: min(max(count, 2 * storage.count), Self.keptBytes)) }
        return storage.withUnsafeMutableBytes { output in
            frame.data.withUnsafeReadableBytes { input in Self.unmask(input, with: key, into: output) }
            return body(UnsafeRawBufferPointer(rebasing: output[0..<count]))
        }
    }

    /// Writes `input` XORed with the repeated four bytes of `key` to the start of `output`.
    static func unmask(_ input: UnsafeRawBufferPointer, with key: WebSocketMaskingKey, into output: UnsafeMutableRawBufferPointer) {
        let count = input.count
        guard count > 0, let source = input.baseAddress, let target = output.baseAddress else { return }
        // The key in memory order, twice: a word read from offset 8·i meets key[0] first.
        var word: UInt64 = 0
        withUnsafeMutableBytes(of: &word) { bytes in
            for index in 0..<8 { bytes[index] = key[index % 4] }
        }
        var offset = 0
        while offset + 8 <= count {
            let value = source.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            target.storeBytes(of: value ^ word, toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        while offset < count {
            target.storeBytes(of: source.load(fromByteOffset: offset, as: UInt8.self) ^ key[offset % 4], toByteOffset: offset, as: UInt8.self)
            offset += 1
        }
    }
}
