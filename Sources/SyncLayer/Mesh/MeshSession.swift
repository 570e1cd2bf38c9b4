import Logging
import NIOCore
import WSCore
import SyncCore
import SyncStore

/// One mesh link from handshake to end, the same on both sides: `peerHello` first, then at once the
/// inbound frames handled in order, the outbound queue written in order, and heartbeats. A peer
/// silent for two heartbeat intervals (or without a `peerHello` by then) is dropped.
///
/// With a team secret, each side first sends its key exchange and every frame after it is sealed
/// (``MeshCipher``): one binary message per frame. Without one, frames are JSON text messages.
///
/// The dialing side speaks first; the accepting side sends nothing until the dialer's first message
/// has arrived: swift-websocket's client (the dialer's) can miss frames that arrive right after the
/// upgrade response, and then reads nothing more.
struct MeshSession {
    let mesh: Mesh
    let link: MeshLink
    /// Closes the connection's input, which ends the reader (it ends on neither cancellation nor
    /// an unanswered close frame).
    let abort: @Sendable () -> Void
    /// This link's key exchange, when the team has a secret.
    private let exchange: MeshKeyExchange?
    /// The sealed channel, once the peer's key exchange arrived.
    private let channel = Promise<MeshCipher>()
    /// Fulfilled by the peer's first message, without a team secret (the accepting side waits for it
    /// before writing; with a secret it waits for `channel`, which the dialer's key exchange opens).
    private let peerSpoke = Promise<Void>()

    init(mesh: Mesh, link: MeshLink, abort: @escaping @Sendable () -> Void) {
        self.mesh = mesh
        self.link = link
        self.abort = abort
        exchange = mesh.configuration.teamSecret.map { MeshKeyExchange(secret: $0, teamID: mesh.configuration.teamID) }
    }

    func run(connection: some MessageChannel) async throws {
        defer {
            channel.abandon()
            peerSpoke.abandon()
            link.overflow.abandon()
            mesh.closeLink(link)
        }
        // The accepting side sends its key exchange when the dialer's arrives (readLoop).
        if let exchange, link.direction == .outbound { try await connection.write(.binary(ByteBuffer(bytes: exchange.keyMessage))) }
        mesh.sendHello(try await mesh.ownHello(wantsReply: false), on: link)
        let keepAlive = Locked(KeepAlive(interval: mesh.configuration.heartbeatInterval, now: monotonicNanos()))
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await readLoop(connection, keepAlive: keepAlive) }
            group.addTask { try await writeLoop(connection) }
            group.addTask { try await heartbeatLoop(keepAlive: keepAlive) }
            group.addTask { try await deferredRelayLoop() }
            group.addTask {
                // A peer that stopped reading: end the link now (the writer may be blocked on it).
                guard await link.overflow.value != nil else { return }
                throw Mesh.Refusal(description: "peer too slow: more than \(mesh.configuration.linkQueueLimit) changes waiting for it")
            }
            do {
                try await group.next()
                group.cancelAll()
                try? await connection.close(.normalClosure, reason: nil)
            } catch let refusal as Mesh.Refusal where link.overflowed {
                // Nothing more can be written to it, not even a close frame: drop the connection.
                mesh.engine.metrics.update { $0.slowPeersDropped += 1 }
                mesh.logger.info("dropped a LAN peer that does not read", metadata: ["synclayer.reason": "\(refusal)", "synclayer.peer.address": "\(link.address)"])
                group.cancelAll()
            } catch let refusal as Mesh.Refusal {
                mesh.logger.debug("mesh link closed", metadata: ["synclayer.reason": "\(refusal)", "synclayer.peer.address": "\(link.address)"])
                group.cancelAll()
                try? await connection.close(.policyViolation, reason: String(refusal.description.prefix(100)))
            } catch {
                group.cancelAll()
                try? await connection.close(.goingAway, reason: nil)
            }
            abort()
        }
    }

    private func readLoop(_ connection: some MessageChannel, keepAlive: Locked<KeepAlive>) async throws {
        for try await message in connection.messages(maxSize: 8 << 20) {
            keepAlive.withLock { $0.received(at: monotonicNanos()) }
            let frame: Frame
            do {
                if let exchange {
                    guard case .binary(let buffer) = message else {
                        throw Mesh.Refusal(description: "a frame in clear on a team with a secret (the peer has none?)")
                    }
                    guard let cipher = channel.current else {
                        let opened = try exchange.channel(peerKeyMessage: Array(buffer.readableBytesView))
                        if link.direction == .inbound { try await connection.write(.binary(ByteBuffer(bytes: exchange.keyMessage))) }
                        channel.fulfill(opened)
                        continue
                    }
                    frame = try mesh.codec.decode(try cipher.open(buffer.readableBytesView))
                } else {
                    peerSpoke.fulfill(())
                    frame = try mesh.codec.decode(message)
                }
            } catch let refusal as Mesh.Refusal {
                // Not of the team, or altered on the way: nothing of this link is read any further.
                mesh.engine.metrics.update { $0.framesRejected += 1 }
                throw refusal
            } catch {
                mesh.engine.metrics.update { $0.framesRejected += 1 }
                mesh.logger.debug("dropped a bad frame from a peer", metadata: ["synclayer.error": "\(error)"])
                continue
            }
            switch frame {
            case .peerHello(let hello):
                try await mesh.received(hello, on: link)
            case .relay(let batch):
                try await mesh.received(batch, on: link)
            case .ping:
                link.send(.pong(time: nil))
            case .pong:
                break
            default:
                mesh.engine.metrics.update { $0.framesRejected += 1 }
            }
        }
    }

    /// Writes queued frames in order; ends (closing the link) when the mesh finishes the queue.
    private func writeLoop(_ connection: some MessageChannel) async throws {
        if link.direction == .inbound, exchange == nil {
            guard await peerSpoke.value != nil else { return }
        }
        if exchange != nil {
            guard let cipher = await channel.value else { return }
            for await frame in link.queue {
                link.sending(frame)
                try await connection.write(.binary(ByteBuffer(bytes: cipher.seal(mesh.codec.encode(frame)))))
                try await wrote(frame, connection)
            }
        } else {
            for await frame in link.queue {
                link.sending(frame)
                try await connection.write(.text(mesh.codec.encodeString(frame)))
                try await wrote(frame, connection)
            }
        }
        throw Mesh.Refusal(description: "link replaced or closed by this node")
    }

    /// A frame's changes stop counting against the link's bound only once the connection has taken
    /// the frame: released at the hand-off instead, frames could pile up unbounded between the
    /// writer and a busy event loop while the bound saw an empty queue (`MessageChannel.written()`).
    private func wrote(_ frame: Frame, _ connection: some MessageChannel) async throws {
        try await connection.written()
        link.wrote(frame)
    }

    /// Releases changes deferred for the peer when their grace has passed (``RelayPolicy``).
    /// Ends only by cancellation (the session ending).
    private func deferredRelayLoop() async throws {
        while true {
            guard let due = link.deferred.withLock({ $0.due }) else {
                await link.deferredChanged.wait(timeout: .seconds(3600))
                try Task.checkCancellation()
                continue
            }
            let now = monotonicNanos()
            if due > now { try await Task.sleep(for: .nanoseconds(Int64(due - now))) }
            if let released = link.deferred.withLock({ $0.takeDue(now: monotonicNanos()) }) {
                mesh.releaseDeferred(released, to: link)
            }
        }
    }

    private func heartbeatLoop(keepAlive: Locked<KeepAlive>) async throws {
        try await keepAlive.run(
            handshakeDeadline: monotonicNanos() + UInt64((mesh.configuration.heartbeatInterval * 2).nanosecondsValue),
            handshakeDone: { link.peer != nil },
            handshakeExpired: { throw Mesh.Refusal(description: "no peerHello within two heartbeat intervals") },
            ping: { link.send(.ping(time: nil)) })
        throw Mesh.Refusal(description: "peer silent for two heartbeat intervals")
    }
}
