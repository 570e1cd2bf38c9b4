/// A peer found on the LAN and resolved to an address, port and TXT record.
///
/// Discovery is only a hint: a peer is alive while its heartbeats arrive, not while it is listed.
/// The TXT values come from the network and are untrusted.
package struct DiscoveredPeer: Sendable, Hashable {
    /// The peer's node id, from its TXT `node` key; the identity of the peer.
    package var nodeID: String
    /// The instance name it is published under (may be renamed, such as `name #2`).
    package var instanceName: String
    /// The resolved address: IPv4 dotted (`127.0.0.1`) or IPv6 text. Connect to this, not to a `.local` name.
    package var address: String
    /// The port of the peer's listener.
    package var port: UInt16
    /// The peer's whole TXT record (key order is not meaningful).
    package var txt: [String: String]
    /// The index of the network interface the peer was seen on.
    package var interfaceIndex: Int32

    /// Creates a peer value.
    package init(
        nodeID: String,
        instanceName: String,
        address: String,
        port: UInt16,
        txt: [String: String],
        interfaceIndex: Int32
    ) {
        self.nodeID = nodeID
        self.instanceName = instanceName
        self.address = address
        self.port = port
        self.txt = txt
        self.interfaceIndex = interfaceIndex
    }

    /// Whether the peer's TXT `uplink` key says it reaches the server.
    package var hasUplink: Bool { txt[TXTKey.uplink] == "1" }
    /// The peer's TXT `proto` value, if any.
    package var protocolVersion: String? { txt[TXTKey.protocolVersion] }
    /// The peer's TXT `team` value, if any.
    package var teamID: String? { txt[TXTKey.team] }
}
