import Glibc
import NIOCore
import NIOPosix
import SyncCore

/// A loopback TCP proxy that can cut a link the silent way: in `blackhole` mode it keeps every
/// connection open but forwards nothing, as a dead Wi-Fi or a partition does, so only keep-alives
/// can notice. ``restore()`` forwards again and resets the connections that were cut.
package final class TCPProxy: Sendable {
    /// The port clients connect to.
    package let port: Int
    private let serverChannel: any Channel
    private let state: ProxyState

    final class ProxyState: Sendable {
        /// The port connections are forwarded to (``retarget(to:)``).
        let target: Locked<Int>
        let blackholed = Locked(false)
        let connections = Locked<[ObjectIdentifier: any Channel]>([:])
        /// Bytes forwarded to the target, and from it back to clients.
        let toTarget = Locked(0), fromTarget = Locked(0)
        /// Every byte forwarded either way, when recording (a capture of the traffic).
        let recording: Bool
        let recorded = Locked<[UInt8]>([])

        init(target: Int, recording: Bool) {
            self.target = Locked(target)
            self.recording = recording
        }
    }

    /// Every byte forwarded so far, both directions interleaved (only with `recording`).
    package var recorded: [UInt8] { state.recorded.withLock { $0 } }

    /// Bytes forwarded so far: from clients to the target, and from the target to clients.
    package var bytesForwarded: (toTarget: Int, fromTarget: Int) {
        (state.toTarget.withLock { $0 }, state.fromTarget.withLock { $0 })
    }

    private init(port: Int, serverChannel: any Channel, state: ProxyState) {
        self.port = port
        self.serverChannel = serverChannel
        self.state = state
    }

    /// A proxy on a free loopback port forwarding to `127.0.0.1:targetPort`; with `recording`, it
    /// keeps a copy of everything it forwards (``recorded``).
    package static func start(targetPort: Int, recording: Bool = false) async throws -> TCPProxy {
        let state = ProxyState(target: targetPort, recording: recording)
        let group = MultiThreadedEventLoopGroup.singleton
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .channelOption(.autoRead, value: false)
                    .connect(host: "127.0.0.1", port: state.target.withLock { $0 })
                    .flatMapThrowing { outbound in
                        state.connections.withLock {
                            $0[ObjectIdentifier(inbound)] = inbound
                            $0[ObjectIdentifier(outbound)] = outbound
                        }
                        try inbound.pipeline.syncOperations.addHandler(ForwardHandler(peer: outbound, state: state, counter: state.toTarget))
                        try outbound.pipeline.syncOperations.addHandler(ForwardHandler(peer: inbound, state: state, counter: state.fromTarget))
                        inbound.setOption(.autoRead, value: true).whenComplete { _ in }
                        outbound.setOption(.autoRead, value: true).whenComplete { _ in }
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TCPProxy(port: channel.localAddress?.port ?? 0, serverChannel: channel, state: state)
    }

    /// Forwards connections made from now on to `127.0.0.1:port` (a server that started after the
    /// proxy, on a port it was given).
    package func retarget(to port: Int) {
        state.target.withLock { $0 = port }
    }

    /// Stops forwarding without closing anything.
    package func blackhole() {
        state.blackholed.withLock { $0 = true }
    }

    /// Forwards again; connections that were cut are reset (their peers see them close).
    package func restore() async {
        let cut = state.connections.withLock { connections in
            defer { connections.removeAll() }
            return Array(connections.values)
        }
        state.blackholed.withLock { $0 = false }
        for channel in cut { try? await channel.close() }
    }

    /// Closes the proxy and every connection.
    package func stop() async {
        await restore()
        try? await serverChannel.close()
    }

    final class ForwardHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let peer: any Channel
        let state: ProxyState
        let counter: Locked<Int>

        init(peer: any Channel, state: ProxyState, counter: Locked<Int>) {
            self.peer = peer
            self.state = state
            self.counter = counter
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !state.blackholed.withLock({ $0 }) else { return }
            let buffer = unwrapInboundIn(data)
            counter.withLock { $0 += buffer.readableBytes }
            if state.recording { state.recorded.withLock { $0 += buffer.readableBytesView } }
            peer.writeAndFlush(buffer, promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.connections.withLock { $0[ObjectIdentifier(context.channel)] = nil }
            if !state.blackholed.withLock({ $0 }) { peer.close(promise: nil) }
        }
    }
}

/// A loopback port that was free a moment ago (for a server that must restart on the same port).
package func freeLoopbackPort() throws -> Int {
    let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
    let port = channel.localAddress?.port ?? 0
    try channel.close().wait()
    return port
}

/// A loopback port bound and never listened on, held until ``close()``: a connection to it is
/// refused, and no other socket can take the port meanwhile (a server that is not there yet,
/// without the race of a port that was free a moment ago).
package final class RefusingLoopbackPort: Sendable {
    package let port: Int
    private let descriptor: Int32

    package init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw LoopbackPortError(description: "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(descriptor, generic, length) == 0 && getsockname(descriptor, generic, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(descriptor)
            throw LoopbackPortError(description: "could not bind a loopback port: errno \(errno)")
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Lets the port go.
    package func close() {
        Glibc.close(descriptor)
    }
}

/// Why a ``RefusingLoopbackPort`` could not be had.
package struct LoopbackPortError: Error, CustomStringConvertible {
    package let description: String
}
