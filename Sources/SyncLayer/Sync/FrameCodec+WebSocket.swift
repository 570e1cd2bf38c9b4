import WSCore
import SyncCore

extension FrameCodec {
    /// Decodes a WebSocket message, text or binary, as a frame.
    func decode(_ message: WebSocketMessage) throws(FrameError) -> Frame {
        switch message {
        case .text(let text): try decode(Array(text.utf8))
        case .binary(let buffer): try decode(buffer.readableBytesView)
        }
    }
}
