import CAvahi
import Logging

extension AvahiSession {
    /// Creates the poll and the client, then starts the poll thread.
    ///
    /// The client is created with `AVAHI_CLIENT_NO_FAIL`: if D-Bus is up but the daemon is not,
    /// this succeeds and reports `.daemonUnavailable`. It throws when no client can be made at all.
    static func open(
        advertisement: ServiceAdvertisement,
        ipFamily: IPFamily,
        logger: Logger,
        continuation: AsyncStream<DiscoveryEvent>.Continuation
    ) throws(DiscoveryError) -> AvahiSession {
        guard let poll = avahi_threaded_poll_new() else {
            throw DiscoveryError(code: .pollFailed, message: "avahi_threaded_poll_new failed (out of memory?)")
        }
        let session = AvahiSession(
            poll: poll, advertisement: advertisement, ipFamily: ipFamily, logger: logger,
            continuation: continuation)
        session.reconnectTimer = session.api.pointee.timeout_new!(
            session.api, nil,
            { _, context in AvahiSession.from(context).reconnect() },
            session.context)

        var error: Int32 = 0
        guard let client = session.makeClient(&error) else {
            avahi_threaded_poll_free(poll)
            throw DiscoveryError(
                code: .daemonNotRunning,
                message: "cannot reach the Avahi daemon: \(errorText(error)); "
                    + "start avahi-daemon and the system D-Bus, or run without mDNS (static peers)",
                avahiErrorNumber: error)
        }
        session.client = client
        session.isOpen = true
        if avahi_client_get_state(client) == AVAHI_CLIENT_FAILURE {
            session.markUnavailable("avahi client failed: \(errorText(avahi_client_errno(client)))")
            session.scheduleReconnect()
        }
        guard avahi_threaded_poll_start(poll) >= 0 else {
            avahi_client_free(client)
            avahi_threaded_poll_free(poll)
            throw DiscoveryError(code: .pollFailed, message: "avahi_threaded_poll_start could not start its thread")
        }
        return session
    }

    /// Stops the poll thread, then frees the client (which withdraws our service and frees the
    /// group, browser and resolvers) and the poll (which frees the reconnect timer).
    /// Must not be called on the poll thread.
    func close() {
        avahi_threaded_poll_stop(poll)
        if let client { avahi_client_free(client) }
        client = nil
        group = nil
        browser = nil
        resolvers.removeAll()
        resolverKeys.removeAll()
        avahi_threaded_poll_free(poll)
        reconnectTimer = nil
    }

    /// Creates a client; its callback may run (and set `client`) before this returns.
    func makeClient(_ error: inout Int32) -> OpaquePointer? {
        let client = avahi_client_new(
            api, AVAHI_CLIENT_NO_FAIL,
            { client, state, context in AvahiSession.from(context).clientStateChanged(client, state) },
            context, &error)
        if client == nil {
            // avahi_client_new freed the half-made client and everything its callback created.
            self.client = nil
            forgetClientObjects()
        }
        return client
    }

    /// Drops pointers to objects that the client owns (after the client was freed).
    func forgetClientObjects() {
        group = nil
        browser = nil
        resolvers.removeAll()
        resolverKeys.removeAll()
    }
}
