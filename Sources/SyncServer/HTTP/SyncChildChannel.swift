import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// A connection to the server: HTTP/1.1 for the REST routes (Hummingbird's responder), or a
/// WebSocket after an upgrade at `/ws`, served by plain channel handlers on the connection's event
/// loop (``WebSocketConnectionHandler`` in, ``DeliveryHandler`` out) instead of a stack of tasks and
/// streams per connection (`Docs/Delivery.md`).
///
/// Hummingbird's server runs one task per connection; for a WebSocket that task ends once the
/// upgrade is done. The connection stays registered in the ``ServerHub`` until its channel has
/// closed and it has ended: the server says goodbye to each on graceful shutdown, and closes the
/// database only after all have ended.
struct SyncChildChannel: ServerChildChannel, HTTPChannelHandler {
    enum UpgradeResult: Sendable {
        case webSocket(ServerConnection, any Channel)
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    /// What the server decides for an upgrade request, on the channel's event loop.
    struct WebSocketEndpoint: Sendable {
        /// The largest frame, and the largest message once its fragments are joined.
        var maxMessageBytes: Int
        /// Whether a request for `uri` may become a WebSocket.
        var accepts: @Sendable (_ uri: String) -> Bool
        /// Before the WebSocket handlers are added: the connection's delivery, whose handler this puts
        /// at the tail of the pipeline (after TLS), so that the WebSocket handlers come after it.
        var prepare: @Sendable (any Channel) throws -> Delivery
        /// Once upgraded: the connection serving `delivery`, and the token the request carried.
        var connect: @Sendable (Delivery, HTTPRequestHead) -> (ServerConnection, token: String?)
    }

    let responder: HTTPChannelHandler.Responder
    let http: HTTP1Channel.Configuration
    let webSocket: WebSocketEndpoint

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // NIO keeps a connection's last receive buffer for its next read: start it at 512 bytes
            // rather than 2 kB (it grows while reads fill it), as most connections are idle readers.
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator,
                                               value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536))
            let upgradeAttempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let delivery = NIOLoopBoundBox<Delivery?>(nil, eventLoop: channel.eventLoop)
            let endpoint = webSocket
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: endpoint.maxMessageBytes,
                shouldUpgrade: { channel, head in
                    upgradeAttempted.value = true
                    return channel.eventLoop.makeCompletedFuture {
                        guard endpoint.accepts(head.uri) else { return nil }
                        delivery.value = try endpoint.prepare(channel)
                        return HTTPHeaders()
                    }
                },
                upgradePipelineHandler: { channel, head in
                    channel.eventLoop.makeCompletedFuture {
                        guard let prepared = delivery.value else { throw ChannelError.inappropriateOperationForState }
                        let (connection, token) = endpoint.connect(prepared, head)
                        let reader = connection.open(token: token)
                        do {
                            try channel.pipeline.syncOperations.addHandlers([
                                NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 4_096,
                                                            maxAccumulatedFrameSize: endpoint.maxMessageBytes),
                                WebSocketConnectionHandler(connection: connection, reader: reader),
                            ])
                        } catch {
                            // The channel closed during the upgrade: nothing will serve the connection.
                            Task { await connection.ended() }
                            throw error
                        }
                        return UpgradeResult.webSocket(connection, channel)
                    }
                }
            )
            let http = self.http
            let serverUpgrade = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandlers(http.additionalChannelHandlers())
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPConnectionStateHandler(idleTimeout: http.idleTimeout.map { .nanoseconds($0.nanoseconds) }, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        return upgradeAttempted.value ? .failedUpgrade(asyncChannel) : .notUpgraded(asyncChannel)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: serverUpgrade)
            configuration.enablePipelining = false  // NIOAsyncChannel pipelines HTTP
            configuration.enableErrorHandling = false  // Hummingbird's responder answers parse errors
            configuration.enableResponseHeaderValidation = false  // HTTPTypes validates them
            configuration.decoderConfiguration.maxHeaderFieldSize = http.httpDecoder.maxHeaderFieldSize
            configuration.decoderConfiguration.maxHeaderListSize = http.httpDecoder.maxHeaderListSize
            configuration.decoderConfiguration.maxHeaderFieldCount = http.httpDecoder.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .failedUpgrade(let http):
                // An upgrade asked for anywhere but /ws: 400, and the connection closes.
                try await http.executeThenClose { _, outbound in
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])), .end(nil),
                    ])
                }
            case .webSocket(let connection, let channel):
                // No task waits on an open connection; its channel's close lets go of it.
                channel.closeFuture.whenComplete { _ in Task { await connection.ended() } }
            }
        } catch {
            logger.debug("connection ended before it was served", metadata: ["synclayer.error": "\(error)"])
        }
    }
}
