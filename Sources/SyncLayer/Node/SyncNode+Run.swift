import ServiceLifecycle
import SyncCore

extension SyncNode {
    /// Syncs with the server until the task is cancelled or the service group shuts down: the
    /// realtime link (when enabled), polling (when a `baseURL` is set and `enableAutoSync` is on) and
    /// the LAN mesh (when configured). A node with none of these waits until stopped.
    public func run() async throws {
        let link = self.link
        let poller = configuration.enableAutoSync || link == nil ? self.poller : nil
        let mesh = self.mesh
        guard link != nil || poller != nil || mesh != nil else {
            // Nothing to sync with: stay up (a service that returns ends its group) until stopped.
            try? await gracefulShutdown()
            return
        }
        let states = linkStatesBroadcaster
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if let link { group.addTask { await link.run() } }
                if let poller { group.addTask { await poller.run(link: { states.current }) } }
                if let mesh { group.addTask { await mesh.run(uplinkStates: states.stream().map { $0 == .connected }) } }
            }
        }
    }

    /// The LAN mesh as this node sees it now; `nil` when the node is not on a mesh.
    public var meshStatus: MeshStatus? {
        mesh?.status
    }

    /// Waits until the mesh listener accepts links and returns its port; `nil` without a mesh or
    /// when the listener could not start.
    public func waitUntilMeshListening() async -> Int? {
        guard let mesh else { return nil }
        return await mesh.listening.value
    }

    /// The realtime link's state now, then each change.
    public func linkStates() -> AsyncStream<LinkState> {
        linkStatesBroadcaster.stream()
    }

    /// What the node knows of its backend, for `synclayer status`: its protocol (`synclayer`,
    /// `original` or `unknown`) and, for one of the original protocol, whether its REST routes answer
    /// (`nil` until a poll tried them).
    package var backendStatus: (protocol: String, rest: Bool?) {
        (engine.dialectName, engine.speaksOriginalProtocol ? engine.originalBackend.rest : nil)
    }

    /// The realtime link's state.
    public var linkState: LinkState {
        linkStatesBroadcaster.current
    }

    /// When the realtime link entered its current state (``linkState``), in milliseconds since the
    /// epoch by the node's clock; the node's opening time while the link never changed state.
    public var linkStateSince: UInt64 {
        linkStatesBroadcaster.since
    }

    /// The server the node syncs with now: the base URL of the instance in use (of
    /// ``SyncConfiguration/baseURL`` and ``SyncConfiguration/otherServerURLs``), or the WebSocket URL
    /// when only that is configured; `nil` for a node without a server.
    public var serverURL: String? {
        engine.servers.current ?? configuration.effectiveWebSocketURL
    }

    /// Closes the realtime link and keeps it closed (polling takes over) until ``connect()``.
    public func disconnect() async {
        await link?.disconnect()
    }

    /// Reopens the realtime link after ``disconnect()``.
    public func connect() {
        link?.connect()
    }

    /// Pulls from the server now and pushes the outbox, over HTTP; `false` when it failed. While the
    /// realtime link to a server of ours is up, the link sends the outbox, and this only pulls.
    @discardableResult
    public func syncNow() async -> Bool {
        guard let poller else { return false }
        return await poller.pollOnce()
    }
}
