import Logging
import Synchronization

/// Publishes this node over mDNS/DNS-SD through the Avahi daemon and reports peers that publish
/// the same service type.
///
/// Call ``start()`` once, read ``events`` (a single consumer), call ``stop()`` when done.
/// The daemon runs outside the process: when it goes away, discovery reports
/// ``DiscoveryEvent/daemonUnavailable(_:)`` and comes back by itself with
/// ``DiscoveryEvent/daemonRestored``. Our own service is never reported as a peer.
/// Peers are keyed by their TXT `node` id, not by instance name.
package final class AvahiDiscovery: Sendable {
    /// Everything discovery reports, in order. Buffers without limit (events are rare);
    /// finishes after ``stop()``. Iterate it from one task only.
    package let events: AsyncStream<DiscoveryEvent>

    private let continuation: AsyncStream<DiscoveryEvent>.Continuation
    private let ipFamily: IPFamily
    private let logger: Logger
    private let state: Mutex<State>

    private struct State: ~Copyable {
        var advertisement: ServiceAdvertisement
        var phase: Phase
    }

    private enum Phase {
        case idle
        case running(AvahiSession)
        case stopped
    }

    /// Creates a discovery for `advertisement`; nothing happens until ``start()``.
    ///
    /// - Parameters:
    ///   - ipFamily: the IP protocol to publish, browse and resolve on. `.ipv4` suits a
    ///     loopback-only setup; `.any` may report a peer's IPv6 address.
    ///   - logger: logs at `.info` and below (errors from the daemon at `.warning`/`.error`).
    package init(
        advertisement: ServiceAdvertisement,
        ipFamily: IPFamily = .any,
        logger: Logger = Logger(label: "synclayer.avahi")
    ) {
        (events, continuation) = AsyncStream.makeStream(of: DiscoveryEvent.self)
        self.ipFamily = ipFamily
        self.logger = logger
        self.state = Mutex(State(advertisement: advertisement, phase: .idle))
    }

    deinit {
        stop()
    }

    /// The advertisement as last set (the published name may differ: see ``DiscoveryEvent/published(name:)``).
    package var advertisement: ServiceAdvertisement {
        state.withLock { $0.advertisement }
    }

    /// Connects to the Avahi daemon, then publishes and browses as soon as it runs.
    ///
    /// Returns quickly; results arrive on ``events``. If D-Bus is up but the daemon is not, this
    /// succeeds, reports ``DiscoveryEvent/daemonUnavailable(_:)`` and waits for the daemon.
    /// - Throws: ``DiscoveryError`` with code `.daemonNotRunning` when no connection to Avahi can be
    ///   made (the node should run on without mDNS; `start()` may be called again later),
    ///   `.invalidAdvertisement`, `.pollFailed`, `.alreadyStarted` or `.stopped`.
    package func start() throws(DiscoveryError) {
        try state.withLock { (state: inout State) throws(DiscoveryError) in
            switch state.phase {
            case .running:
                throw DiscoveryError(code: .alreadyStarted, message: "discovery is already running")
            case .stopped:
                throw DiscoveryError(code: .stopped, message: "discovery was stopped; create a new AvahiDiscovery")
            case .idle:
                break
            }
            try state.advertisement.validate()
            let session = try AvahiSession.open(
                advertisement: state.advertisement, ipFamily: ipFamily, logger: logger, continuation: continuation)
            state.phase = .running(session)
        }
    }

    /// Replaces the TXT record and, when published, updates it on the network.
    ///
    /// The `node` key must stay the same. Peers see the change as a new
    /// ``DiscoveryEvent/peerFound(_:)`` for this node.
    /// - Throws: ``DiscoveryError`` `.invalidAdvertisement`, or `.publishFailed` when the daemon
    ///   refused the update (the new record is still kept and used at the next publication).
    package func updateTXT(_ txt: [String: String]) throws(DiscoveryError) {
        try changeTXT { $0 = txt }
    }

    /// Sets the TXT `uplink` flag: whether this node currently reaches the server.
    /// - Throws: as ``updateTXT(_:)``.
    package func setUplink(_ hasUplink: Bool) throws(DiscoveryError) {
        try changeTXT { $0[TXTKey.uplink] = hasUplink ? "1" : "0" }
    }

    /// Applies `change` to the TXT record under the lock, so concurrent changes are not lost.
    private func changeTXT(_ change: (inout [String: String]) -> Void) throws(DiscoveryError) {
        try state.withLock { (state: inout State) throws(DiscoveryError) in
            var next = state.advertisement
            change(&next.txt)
            try next.validate()
            guard next.nodeID == state.advertisement.nodeID else {
                throw DiscoveryError(
                    code: .invalidAdvertisement,
                    message: "the TXT 'node' key cannot change; create a new AvahiDiscovery for another node id")
            }
            state.advertisement = next
            if case .running(let session) = state.phase {
                try session.updateTXT(next.txt)
            }
        }
    }

    /// Withdraws our service, disconnects from Avahi and finishes ``events``. Safe to call twice.
    package func stop() {
        let session: AvahiSession? = state.withLock { state in
            defer { state.phase = .stopped }
            if case .running(let session) = state.phase { return session }
            return nil
        }
        session?.close()
        continuation.finish()
    }
}
