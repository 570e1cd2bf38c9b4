import NIOCore
import NIOWebSocket
import WSCore

/// One WebSocket connection as a session sees it: the messages that arrive, in order, and a way
/// to write and to close. Sessions (``RealtimeSession``, ``MeshSession``) are written against this,
/// so they run over swift-websocket's streams (``WebSocketChannel``) and, in tests, over an
/// in-memory pair without sockets.
protocol MessageChannel: Sendable {
    associatedtype Messages: AsyncSequence<WebSocketMessage, any Error> & Sendable

    /// The messages that arrive, each at most `maxSize` bytes. Called once per connection.
    func messages(maxSize: Int) -> Messages

    /// Writes one message.
    func write(_ message: WebSocketMessage) async throws

    /// Sends a close frame.
    func close(_ code: WebSocketErrorCode, reason: String?) async throws
}

/// A swift-websocket connection (client or server side) as a ``MessageChannel``.
struct WebSocketChannel: MessageChannel {
    let inbound: WebSocketInboundStream
    let outbound: WebSocketOutboundWriter

    func messages(maxSize: Int) -> WebSocketInboundMessageStream {
        inbound.messages(maxSize: maxSize)
    }

    func write(_ message: WebSocketMessage) async throws {
        switch message {
        case .text(let text): try await outbound.write(.text(text))
        case .binary(let buffer): try await outbound.write(.binary(buffer))
        }
    }

    func close(_ code: WebSocketErrorCode, reason: String?) async throws {
        try await outbound.close(code, reason: reason)
    }
}
