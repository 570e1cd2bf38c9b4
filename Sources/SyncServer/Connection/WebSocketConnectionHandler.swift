import NIOCore
import NIOWebSocket

/// The reader of a WebSocket connection, at the tail of its pipeline: every whole message goes to
/// the ``ServerConnection`` on the event loop, with no task or stream per connection
/// (`Docs/Delivery.md`). Before it, NIO's frame decoder (whose frame size limit and protocol
/// errors close the connection with 1009 or 1002) and a frame aggregator that joins fragments up to
/// the message size limit.
///
/// It answers a ping with a pong and a close frame with a close frame, both through the connection's
/// ``Delivery``, so they keep their place among what the connection is sent. While the connection's
/// inbound queue is at its bound it stops asking the channel to read, so a client that sends faster
/// than the store commits is slowed down by TCP.
final class WebSocketConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let connection: ServerConnection
    private var reader: ServerConnection.ReaderState
    /// Reading is held back until the inbound queue has room.
    private var paused = false
    /// The channel asked to read while paused.
    private var readWanted = false
    private var context: ChannelHandlerContext?
    /// Called by the inbound queue, from its task, once it has room again.
    private var resumeReading: (@Sendable () -> Void)?
    /// Where a client's masked message is unmasked, kept between messages (``MessageUnmasker``).
    private var unmasker = MessageUnmasker()

    init(connection: ServerConnection, reader: ServerConnection.ReaderState) {
        self.connection = connection
        self.reader = reader
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        resumeReading = { loop.execute { handler.value.resume() } }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Breaks the cycle handler → closure → handler.
        self.context = nil
        resumeReading = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            guard let resumeReading else { return }
            let goOn = unmasker.withUnmasked(frame) { connection.receive($0, &reader, resume: resumeReading) }
            if !goOn { paused = true }
        case .ping:
            connection.touched()
            guard !reader.stopped else { return }
            connection.delivery.send(encoded: ServerFrame.pong(frame.unmaskedData))
        case .pong:
            connection.touched()
        case .connectionClose:
            // Echo the client's status code (RFC 6455 §5.5.1); none given, a normal closure.
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self) ?? 1000
            reader.stopped = true
            connection.delivery.close(with: nil, code: code)
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Hummingbird's server allows half-closure: a client whose end of the socket closed (its
        // process ended) would otherwise keep the connection until the idle watchdog.
        if let event = event as? ChannelEvent, event == .inputClosed {
            reader.stopped = true
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func read(context: ChannelHandlerContext) {
        if paused || reader.stopped {
            readWanted = true
        } else {
            context.read()
        }
    }

    /// On the event loop, once the inbound queue has room again.
    private func resume() {
        paused = false
        guard readWanted, !reader.stopped, let context else { return }
        readWanted = false
        context.read()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A message over the size limit, fragments out of order, a socket error: the connection ends.
        if let error = error as? NIOWebSocketFrameAggregator.Error {
            reader.stopped = true
            // 1009: the message is too big; 1002: fragments against the protocol.
            let tooBig = error == .accumulatedFrameSizeIsTooLarge || error == .tooManyFragments
            connection.delivery.close(with: nil, code: tooBig ? 1009 : 1002)
            return
        }
        context.close(promise: nil)
    }
}
