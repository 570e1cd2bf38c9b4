import SyncCore
/// The mesh as a node sees it now.
public struct MeshStatus: Sendable, Hashable {
    /// The port the peer listener accepts links on (0 until it listens).
    public var port: Int
    /// The team id.
    public var teamID: String
    /// Whether this node reaches the server now.
    public var uplink: Bool
    /// Discovery: `off`, `starting`, `running` (talking to the Avahi daemon: browsing, and advertising
    /// once Avahi has probed the name), or `unavailable: <why>` (static peers still work).
    public var discovery: String
    /// Live links, by peer node id.
    public var peers: [PeerStatus]
}

/// One live link to a LAN peer.
public struct PeerStatus: Sendable, Hashable {
    /// Which side opened the link.
    public enum Direction: String, Sendable, Hashable {
        case inbound, outbound
    }

    /// The peer's node id.
    public var nodeID: NodeID
    /// Whether the peer says it reaches the server.
    public var uplink: Bool
    /// The peer's address as seen by this node.
    public var address: String
    /// Which side opened the link.
    public var direction: Direction
    /// When the link was established, milliseconds since the epoch.
    public var since: UInt64
    /// Whether the link is encrypted and authenticated: it is whenever the team has a secret
    /// (``MeshConfiguration/teamSecret``), as a link of such a team carries no frame in clear.
    public var encrypted: Bool
    /// Changes sent to this peer over this link (relayed, or sent because it lacked them), counted
    /// as each frame is handed to the connection.
    public var changesSent: Int
    /// Changes this peer sent over this link, new here or not.
    public var changesReceived: Int
}
