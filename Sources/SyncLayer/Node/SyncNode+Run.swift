import ServiceLifecycle

extension SyncNode {
    /// Syncs with the server until the task is cancelled or the service group shuts down: the
    /// realtime link (when enabled) and polling (when a `baseURL` is set and `enableAutoSync` is on).
    /// A node without a server returns at once.
    public func run() async throws {
        let link = self.link
        let poller = configuration.baseURL.flatMap { url in
            configuration.enableAutoSync || link == nil ? Poller(engine: engine, configuration: configuration, baseURL: url, client: httpClient, logger: logger) : nil
        }
        guard link != nil || poller != nil else { return }
        let states = linkStatesBroadcaster
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if let link { group.addTask { await link.run() } }
                if let poller { group.addTask { await poller.run(linkIsUp: { states.current == .connected }) } }
            }
        }
    }

    /// The realtime link's state now, then each change.
    public func linkStates() -> AsyncStream<LinkState> {
        linkStatesBroadcaster.stream()
    }

    /// The realtime link's state.
    public var linkState: LinkState {
        linkStatesBroadcaster.current
    }

    /// Closes the realtime link and keeps it closed (polling takes over) until ``connect()``.
    public func disconnect() async {
        await link?.disconnect()
    }

    /// Reopens the realtime link after ``disconnect()``.
    public func connect() {
        link?.connect()
    }

    /// Pushes the outbox and pulls from the server now, over HTTP; `false` when it failed.
    @discardableResult
    public func syncNow() async -> Bool {
        guard let url = configuration.baseURL else { return false }
        return await Poller(engine: engine, configuration: configuration, baseURL: url, client: httpClient, logger: logger).pollOnce()
    }
}
