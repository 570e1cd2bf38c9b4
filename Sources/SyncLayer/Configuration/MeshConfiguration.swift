import SyncCore
/// How a node joins the LAN mesh: where it listens for peers, how it finds them, and the limits of
/// relaying. See `Docs/Mesh.md`.
public struct MeshConfiguration: Sendable, Hashable {
    /// The team this node belongs to: only peers of the same team link. An id, never a secret.
    public var teamID: String
    /// The team's shared secret. When set, only nodes holding it can link, and every frame between
    /// peers is encrypted and authenticated (`Docs/Security.md`); peers without it are refused.
    /// `nil` (the default) links by team id alone, in clear: for trusted networks only.
    public var teamSecret: String?
    /// The address the peer listener binds to (`0.0.0.0` on a LAN; `127.0.0.1` on one machine).
    public var host: String = "0.0.0.0"
    /// The peer listener's port; 0 picks a free one (advertised through Avahi).
    public var port: Int = 0
    /// Peers to link to without discovery, as `ws://host:port` (networks without mDNS).
    public var staticPeers: [String] = []
    /// Whether to advertise and browse through Avahi.
    public var discovery: Bool = true
    /// The most peer links this node keeps, both directions together.
    public var maxLinks: Int = 8
    /// How often a link sends a heartbeat; a peer silent for two intervals is dropped.
    public var heartbeatInterval: Duration = .seconds(2)
    /// How many mesh links a change may cross from its first holder.
    public var hopLimit: Int = 8
    /// How long a node that regains the server waits for changes of other origins to come back from
    /// the server before uploading them itself (as their gateway).
    public var gatewayGrace: Duration = .seconds(1)
    /// The most changes waiting to be written to one peer. A peer that stops reading (a stalled or
    /// hostile device) is dropped past it instead of holding the node's memory; when it links again
    /// it catches up by version vector like any peer.
    public var linkQueueLimit: Int = Self.defaultLinkQueueLimit
    /// ``linkQueueLimit``'s default; also the least the relay's own queue holds (`ForwardQueue`).
    static let defaultLinkQueueLimit = 10_000
    /// The DNS-SD instance name to ask for (Avahi may rename it); defaults to `synclayer-<node id prefix>`.
    public var instanceName: String?

    /// Creates the mesh configuration of a node in team `teamID` that listens for peers on `host`:`port`,
    /// links to `staticPeers`, and, when `discovery` is on, finds peers through Avahi.
    ///
    /// The other settings start at their defaults; ``teamSecret`` is `nil`, so links are unencrypted
    /// until you set it. Nothing is checked here: ``SyncConfiguration/validate()``, which
    /// ``SyncNode/open(_:logger:)`` calls, checks the mesh's fields with the rest.
    public init(teamID: String, host: String = "0.0.0.0", port: Int = 0, staticPeers: [String] = [], discovery: Bool = true) {
        self.teamID = teamID
        self.host = host
        self.port = port
        self.staticPeers = staticPeers
        self.discovery = discovery
    }

    /// Checks every field; throws a ``ConfigurationError`` naming the first one at fault.
    func validate() throws(ConfigurationError) {
        if teamID.isEmpty || teamID.utf8.count > 63 || teamID.contains(where: { $0.isWhitespace || $0 == "=" }) {
            throw ConfigurationError(field: "mesh.teamID", message: "must be 1 to 63 bytes without white space or '='")
        }
        if let teamSecret, teamSecret.utf8.count < 16 {
            throw ConfigurationError(field: "mesh.teamSecret", message: "must be at least 16 bytes (got \(teamSecret.utf8.count))")
        }
        if host.isEmpty { throw ConfigurationError(field: "mesh.host", message: "must name an address to listen on") }
        if !(0...65535).contains(port) { throw ConfigurationError(field: "mesh.port", message: "must be between 0 and 65535 (got \(port))") }
        for (index, peer) in staticPeers.enumerated() {
            try SyncConfiguration.checkURL(peer, field: "mesh.staticPeers[\(index)]", schemes: ["ws"])
        }
        if maxLinks < 1 { throw ConfigurationError(field: "mesh.maxLinks", message: "must be at least 1 (got \(maxLinks))") }
        if heartbeatInterval < .milliseconds(10) {
            throw ConfigurationError(field: "mesh.heartbeatInterval", message: "must be at least 10 ms (got \(heartbeatInterval))")
        }
        if !(1...64).contains(hopLimit) { throw ConfigurationError(field: "mesh.hopLimit", message: "must be between 1 and 64 (got \(hopLimit))") }
        if linkQueueLimit < 1 {
            throw ConfigurationError(field: "mesh.linkQueueLimit", message: "must be at least 1 (got \(linkQueueLimit))")
        }
        if gatewayGrace < .zero { throw ConfigurationError(field: "mesh.gatewayGrace", message: "must not be negative") }
        if let instanceName, instanceName.isEmpty || instanceName.utf8.count > 63 {
            throw ConfigurationError(field: "mesh.instanceName", message: "must be 1 to 63 bytes")
        }
    }
}
