import Logging
import NIOCore
import SyncCore
import WSClient

/// A bare WebSocket client that sends and receives JSON text exactly as given: a stand-in for a
/// client of the original protocol.
package final class RawWebSocket: Sendable {
    private let writer = Locked<WebSocketOutboundWriter?>(nil)
    private let connected: AsyncStream<Void>
    private let messagesStream: AsyncStream<String>
    private let task: Task<Void, any Error>

    /// Connects to `url`; returns once the connection is open.
    package static func connect(_ url: String) async throws -> RawWebSocket {
        let socket = RawWebSocket(url: url)
        var iterator = socket.connected.makeAsyncIterator()
        if await iterator.next() == nil {
            _ = try await socket.task.value
            throw ChildProcessError(message: "could not connect to \(url)")
        }
        return socket
    }

    private init(url: String) {
        let (connected, connectedContinuation) = AsyncStream.makeStream(of: Void.self)
        let (messages, messageContinuation) = AsyncStream.makeStream(of: String.self)
        self.connected = connected
        self.messagesStream = messages
        let writer = self.writer
        var logger = Logger(label: "test.raw-websocket")
        logger.logLevel = .critical
        task = Task {
            defer {
                connectedContinuation.finish()
                messageContinuation.finish()
            }
            try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 22), logger: logger) { inbound, outbound, _ in
                writer.withLock { $0 = outbound }
                connectedContinuation.yield()
                for try await message in inbound.messages(maxSize: 1 << 22) {
                    switch message {
                    case .text(let text): messageContinuation.yield(text)
                    case .binary(let buffer): messageContinuation.yield(String(buffer: buffer))
                    }
                }
            }
        }
    }

    /// Every text message received, in order; ends when the connection closes.
    package var messages: AsyncStream<String> { messagesStream }

    /// Sends one text message.
    package func send(_ text: String) async throws {
        guard let outbound = writer.withLock({ $0 }) else { throw ChildProcessError(message: "not connected") }
        try await outbound.write(.text(text))
    }

    /// Closes the connection.
    package func close() async {
        if let outbound = writer.withLock({ $0 }) { try? await outbound.close(.normalClosure, reason: nil) }
        _ = try? await task.value
    }
}

extension AsyncStream<String>.AsyncIterator {
    /// The next message whose JSON `type` is `type`, skipping others; `nil` if the stream ends.
    package mutating func next(ofType type: String) async -> String? {
        while let message = await next() {
            if message.contains("\"type\":\"\(type)\"") { return message }
        }
        return nil
    }
}
