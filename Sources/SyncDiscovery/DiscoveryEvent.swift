/// What ``AvahiDiscovery`` reports on its ``AvahiDiscovery/events`` stream.
package enum DiscoveryEvent: Sendable, Hashable {
    /// A peer was resolved, or a known peer's address, port, name or TXT record changed
    /// (for example its `uplink` flag). Keyed by ``DiscoveredPeer/nodeID``.
    case peerFound(DiscoveredPeer)
    /// The last instance advertising this node id went away.
    case peerRemoved(nodeID: String)
    /// The Avahi daemon is not reachable; discovery pauses and resumes by itself.
    /// Known peers are not reported removed: liveness comes from heartbeats.
    case daemonUnavailable(String)
    /// The daemon is reachable again after ``daemonUnavailable(_:)``; the service is published
    /// again and peers are reported again with ``peerFound(_:)``.
    case daemonRestored
    /// Our service is established under this instance name (which may differ from the wished one).
    case published(name: String)
}
