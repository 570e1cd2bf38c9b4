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
        let keepAlive = Locked(KeepAlive(interval: mesh.configuration.heartbeatInterval, now: RealtimeSession.monotonicNanos()))
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
            keepAlive.withLock { $0.received(at: RealtimeSession.monotonicNanos()) }
            let frame: Frame
            do {
                switch message {
                case .text(let text): frame = try mesh.codec.decode(Array(text.utf8))
                case .binary(let buffer): frame = try mesh.codec.decode(buffer.readableBytesView)
                }
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
        let interval = mesh.configuration.heartbeatInterval
        let deadline = RealtimeSession.monotonicNanos() + UInt64((interval * 2).nanosecondsValue)
        while !Task.isCancelled {
            let now = RealtimeSession.monotonicNanos()
            if link.peer == nil, now >= deadline { throw Mesh.Refusal(description: "no peerHello within two heartbeat intervals") }
            switch keepAlive.withLock({ $0.tick(at: now) }) {
            case .dead: throw Mesh.Refusal(description: "peer silent for two heartbeat intervals")
            case .ping: link.send(.ping(time: nil))
            case .none: break
            }
            var next = keepAlive.withLock { $0.nextDeadline }
            if link.peer == nil { next = min(next, deadline) }
            let wait = next > now ? next - now : 1_000_000
            try await Task.sleep(for: .nanoseconds(Int64(min(wait, UInt64(Int64.max)))))
        }
    }
}
