import CAvahi
import Logging

extension AvahiSession {
    /// The client callback. Also fires inside `avahi_client_new`, before it returns.
    func clientStateChanged(_ newClient: OpaquePointer?, _ state: AvahiClientState) {
        guard let newClient else { return }
        if client == nil { client = newClient }
        switch state {
        case AVAHI_CLIENT_S_RUNNING:
            reconnectDelayMilliseconds = 0
            if availability == .unavailable {
                logger.info("avahi daemon is back; publishing and browsing again")
                emit([.daemonRestored])
            }
            availability = .available
            publish(on: newClient)
            browse(on: newClient)
        case AVAHI_CLIENT_S_REGISTERING, AVAHI_CLIENT_S_COLLISION:
            // The daemon is (re-)establishing its host name after a change or a host name
            // collision; withdraw our records and add them again once it is running.
            if let group { avahi_entry_group_reset(group) }
        case AVAHI_CLIENT_CONNECTING:
            markUnavailable("avahi-daemon is not running; waiting for it to appear on D-Bus")
        case AVAHI_CLIENT_FAILURE:
            // Inside `open`, avahi_client_new then returns nil and `open` throws (or checks the state).
            guard isOpen else { return }
            markUnavailable("lost the avahi daemon: \(Self.errorText(avahi_client_errno(newClient)))")
            scheduleReconnect()
        default:
            logger.debug("avahi client in unknown state", metadata: ["synclayer.avahi.state": "\(state.rawValue)"])
        }
    }

    func markUnavailable(_ reason: String) {
        guard availability != .unavailable else { return }
        availability = .unavailable
        peers.removeAll()
        logger.info("mDNS discovery paused", metadata: ["synclayer.avahi.reason": "\(reason)"])
        emit([.daemonUnavailable(reason)])
    }

    /// Arms the one-shot reconnect timer (the client must not be freed inside its own callback).
    func scheduleReconnect() {
        guard let reconnectTimer else { return }
        var when = timeval()
        avahi_elapse_time(&when, reconnectDelayMilliseconds, 0)
        api.pointee.timeout_update!(reconnectTimer, &when)
        reconnectDelayMilliseconds = min(
            max(reconnectDelayMilliseconds * 2, 250), Self.maximumReconnectDelayMilliseconds)
    }

    /// The reconnect timer: frees the failed client and makes a new `AVAHI_CLIENT_NO_FAIL` one,
    /// which waits for the daemon to come back.
    func reconnect() {
        if let client { avahi_client_free(client) }
        client = nil
        forgetClientObjects()
        peers.removeAll()
        var error: Int32 = 0
        guard let newClient = makeClient(&error) else {
            logger.debug(
                "cannot create an avahi client yet; retrying",
                metadata: ["synclayer.avahi.error": "\(Self.errorText(error))"])
            scheduleReconnect()
            return
        }
        client = newClient
    }
}
