import CAvahi

/// Which IP protocol to publish, browse and resolve on.
package enum IPFamily: Sendable, Hashable {
    /// Both IPv4 and IPv6, as the daemon allows.
    case any
    /// IPv4 only (addresses such as `127.0.0.1`).
    case ipv4
    /// IPv6 only.
    case ipv6

    var avahiProtocol: AvahiProtocol {
        switch self {
        case .any: AvahiProtocol(AVAHI_PROTO_UNSPEC)
        case .ipv4: AvahiProtocol(AVAHI_PROTO_INET)
        case .ipv6: AvahiProtocol(AVAHI_PROTO_INET6)
        }
    }
}
