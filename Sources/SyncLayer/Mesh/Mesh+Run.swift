import SyncCore
import SyncStore

extension Mesh {
    /// Runs the mesh until the task is cancelled: the peer listener, discovery (advertise, browse,
    /// resolve), the dialers (discovered and static peers), the uplink watcher and the periodic
    /// state exchange.
    func run(uplinkStates: some AsyncSequence<Bool, Never> & Sendable) async {
        // Sessions do not end on cancellation by themselves (reading a socket does not): when the
        // node stops, every link is closed, so the listener can finish.
        await withTaskCancellationHandler { await runServices(uplinkStates: uplinkStates) } onCancel: { closeAllLinks() }
    }

    private func runServices(uplinkStates: some AsyncSequence<Bool, Never> & Sendable) async {
        // New changes (local commits, changes from the server) reach the mesh through a bounded
        // queue (ForwardQueue): the engine hears local commits on the store's writer thread, which
        // must not wait for the relay. Before the mesh runs there are no links to relay to; a peer
        // that links later gets what it lacks by its vector.
        let newChanges = ForwardQueue(limit: max(configuration.linkQueueLimit, MeshConfiguration.defaultLinkQueueLimit))
        let metrics = engine.metrics
        engine.meshForward.withLock {
            $0 = Callback { changes in
                if !newChanges.offer(changes) { metrics.update { $0.relaySkipped += changes.count } }
            }
        }
        defer {
            engine.meshForward.withLock { $0 = nil }
            newChanges.finish()
        }
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await changes in newChanges.batches {
                    self.forward(changes, hops: 1, except: [])
                    // Some were skipped: every peer answers with its vector, which brings what it lacks.
                    if newChanges.done(with: changes) { await self.broadcastState(wantsReply: true) }
                }
            }
            group.addTask {
                do {
                    try await self.runListener()
                } catch {
                    self.logger.error("the mesh listener stopped", metadata: ["synclayer.error": "\(error)"])
                }
                self.listening.abandon()
            }
            if configuration.discovery { group.addTask { await self.runDiscovery() } }
            group.addTask { await self.runDialers() }
            group.addTask {
                for await uplink in uplinkStates { await self.setUplink(uplink) }
            }
            group.addTask {
                // Every five heartbeats each peer hears what this node holds and fills its gaps.
                while (try? await Task.sleep(for: self.configuration.heartbeatInterval * 5)) != nil {
                    await self.broadcastState()
                }
            }
        }
    }
}
