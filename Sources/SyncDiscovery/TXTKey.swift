/// The TXT record keys a SyncLayer node advertises.
///
/// Values are short ASCII strings; TXT order is not preserved by mDNS, so readers look keys up by name.
package enum TXTKey {
    /// The stable node id. Peers are keyed by this value, never by instance name.
    package static let node = "node"
    /// The sync protocol version the node speaks.
    package static let protocolVersion = "proto"
    /// The team id (never the team secret).
    package static let team = "team"
    /// `"1"` while the node reaches the server, `"0"` otherwise.
    package static let uplink = "uplink"
}
