/// The TXT record keys a SyncLayer node advertises.
///
/// Values are short ASCII strings; TXT order is not preserved by mDNS, so readers look keys up by name.
public enum TXTKey {
    /// The stable node id. Peers are keyed by this value, never by instance name.
    public static let node = "node"
    /// The sync protocol version the node speaks.
    public static let protocolVersion = "proto"
    /// The team id (never the team secret).
    public static let team = "team"
    /// `"1"` while the node reaches the server, `"0"` otherwise.
    public static let uplink = "uplink"
}
