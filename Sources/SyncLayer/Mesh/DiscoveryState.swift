/// Where the mesh's discovery stands: shown in `synclayer status` and ``MeshStatus/discovery``.
enum DiscoveryState: Sendable, Equatable, CustomStringConvertible {
    /// Discovery is not configured (static peers only).
    case off
    /// Waiting for the listener's port, then for the Avahi daemon.
    case starting
    /// Talking to the Avahi daemon: browsing, and advertising once Avahi has probed the name.
    case running
    /// No Avahi daemon reachable (or it went away); links stay up and discovery retries.
    case unavailable(String)

    var description: String {
        switch self {
        case .off: return "off"
        case .starting: return "starting"
        case .running: return "running"
        case .unavailable(let why): return "unavailable: \(why)"
        }
    }
}
