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
    ///
    /// Returns once the message is handed to the connection, which may be before the connection
    /// has taken it: a writer that bounds what waits for a peer also awaits ``written()``.
    func write(_ message: WebSocketMessage) async throws

    /// Returns once the connection has taken every message written so far (and so knows whether
    /// its buffer is full, which holds back the next ``write(_:)``).
    func written() async throws

    /// Sends a close frame.
    func close(_ code: WebSocketErrorCode, reason: String?) async throws
}

/// A swift-websocket connection (client or server side) as a ``MessageChannel``.
struct WebSocketChannel: MessageChannel {
    let inbound: WebSocketInboundStream
    let outbound: WebSocketOutboundWriter
    /// The connection's event loop, when the caller knows it (``written()``).
    var eventLoop: (any EventLoop)?

    func messages(maxSize: Int) -> WebSocketInboundMessageStream {
        inbound.messages(maxSize: maxSize)
    }

    func write(_ message: WebSocketMessage) async throws {
        switch message {
        case .text(let text): try await outbound.write(.text(text))
        case .binary(let buffer): try await outbound.write(.binary(buffer))
        }
    }

    /// swift-websocket's writer hands each message to the connection's event loop and returns
    /// before the loop has written it, and it holds back a write only once the loop found the
    /// channel full. A task queued on that loop after the writes runs after them: when it has run,
    /// the channel has every message and its writability is current. Without the loop, returns at once.
    func written() async throws {
        try await eventLoop?.submit {}.get()
    }

    func close(_ code: WebSocketErrorCode, reason: String?) async throws {
        try await outbound.close(code, reason: reason)
    }
}
