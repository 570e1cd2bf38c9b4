import CAvahi
import Logging

/// One running connection to Avahi: the threaded poll, the client and the objects it owns.
///
/// Threading: Avahi runs every callback on the poll thread while holding the threaded poll's
/// mutex. Calls from other threads take that mutex with `avahi_threaded_poll_lock` (never inside a
/// callback). `open` runs before the poll thread starts and `close` after it stopped.
///
/// `@unchecked Sendable` is safe because every mutable field below is only touched under one of
/// those three conditions, so the threaded poll's mutex serialises all access to it.
final class AvahiSession: @unchecked Sendable {
    /// How often `avahi_entry_group_add_service_strlst` may meet a local name collision in a row.
    static let maximumRenames = 32
    /// The longest pause between attempts to create a client when D-Bus itself is unreachable.
    static let maximumReconnectDelayMilliseconds: UInt32 = 5_000

    let poll: OpaquePointer
    let api: UnsafePointer<AvahiPoll>
    let serviceType: String
    let port: UInt16
    let ownNodeID: String
    let ipFamily: IPFamily
    let logger: Logger
    let continuation: AsyncStream<DiscoveryEvent>.Continuation

    var instanceName: String
    var txt: [String: String]
    var client: OpaquePointer?
    var group: OpaquePointer?
    var browser: OpaquePointer?
    var resolvers: [InstanceKey: OpaquePointer] = [:]
    var resolverKeys: [OpaquePointer: InstanceKey] = [:]
    var peers = PeerTable()
    var reconnectTimer: OpaquePointer?
    var reconnectDelayMilliseconds: UInt32 = 0
    var availability = Availability.starting
    /// Set once `open` has its first client; failures before that are reported by `open` itself.
    var isOpen = false

    /// Whether the daemon is reachable, as far as the client knows.
    enum Availability {
        case starting, available, unavailable
    }

    init(
        poll: OpaquePointer,
        advertisement: ServiceAdvertisement,
        ipFamily: IPFamily,
        logger: Logger,
        continuation: AsyncStream<DiscoveryEvent>.Continuation
    ) {
        self.poll = poll
        self.api = avahi_threaded_poll_get(poll)
        self.serviceType = advertisement.serviceType
        self.port = advertisement.port
        self.ownNodeID = advertisement.nodeID
        self.instanceName = advertisement.instanceName
        self.txt = advertisement.txt
        self.ipFamily = ipFamily
        self.logger = logger
        self.continuation = continuation
    }

    /// The pointer Avahi hands back to callbacks. The owner keeps the session alive until `close`.
    var context: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ context: UnsafeMutableRawPointer?) -> AvahiSession {
        Unmanaged<AvahiSession>.fromOpaque(context!).takeUnretainedValue()
    }

    func emit(_ events: [DiscoveryEvent]) {
        for event in events { continuation.yield(event) }
    }

    static func errorText(_ number: Int32) -> String {
        String(cString: avahi_strerror(number))
    }
}
