import Logging
import WSCore

/// One mesh link from handshake to end, the same on both sides: `peerHello` first, then at once the
/// inbound frames handled in order, the outbound queue written in order, and heartbeats. A peer
/// silent for two heartbeat intervals (or without a `peerHello` by then) is dropped.
struct MeshSession {
    let mesh: Mesh
    let link: MeshLink
    /// Closes the connection's input, which ends the reader (it ends on neither cancellation nor
    /// an unanswered close frame).
    let abort: @Sendable () -> Void

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        defer { mesh.closeLink(link) }
        link.send(.peerHello(try await mesh.ownHello(wantsReply: false)))
        let keepAlive = Locked(KeepAlive(interval: mesh.configuration.heartbeatInterval, now: monotonicNanos()))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await readLoop(inbound, keepAlive: keepAlive) }
            group.addTask { try await writeLoop(outbound) }
            group.addTask { try await heartbeatLoop(keepAlive: keepAlive) }
            group.addTask {
                // Reading does not end on cancellation: close the socket when the node stops.
                try? await Task.sleep(for: .seconds(Int64.max / 2))
                throw CancellationError()
            }
            do {
                try await group.next()
                group.cancelAll()
                try? await outbound.close(.normalClosure, reason: nil)
            } catch let refusal as Mesh.Refusal {
                mesh.logger.debug("mesh link closed", metadata: ["synclayer.reason": "\(refusal)", "synclayer.peer.address": "\(link.address)"])
                group.cancelAll()
                try? await outbound.close(.policyViolation, reason: String(refusal.description.prefix(100)))
            } catch {
                group.cancelAll()
                try? await outbound.close(.goingAway, reason: nil)
            }
            abort()
        }
    }

    private func readLoop(_ inbound: WebSocketInboundStream, keepAlive: Locked<KeepAlive>) async throws {
        for try await message in inbound.messages(maxSize: 8 << 20) {
            keepAlive.withLock { $0.received(at: monotonicNanos()) }
            let frame: Frame
            do {
                frame = try mesh.codec.decode(message)
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
    private func writeLoop(_ outbound: WebSocketOutboundWriter) async throws {
        for await frame in link.queue {
            try await outbound.write(.text(mesh.codec.encodeString(frame)))
        }
        throw Mesh.Refusal(description: "link replaced or closed by this node")
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
