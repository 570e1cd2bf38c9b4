extension DiscoveredPeer {
    /// The longest node id accepted from a TXT record, in UTF-8 bytes.
    static let maxNodeIDBytes = 128

    /// The peer a resolved service instance describes, or `nil` when it is not one to report: its
    /// TXT record has no usable node id (missing, empty, or longer than ``maxNodeIDBytes`` UTF-8
    /// bytes) or the node id is `ownNodeID`. The TXT record comes from anyone on the LAN.
    static func resolved(
        txt: [String: String],
        instanceName: String,
        address: String,
        port: UInt16,
        interfaceIndex: Int32,
        ownNodeID: String
    ) -> DiscoveredPeer? {
        guard let nodeID = txt[TXTKey.node], !nodeID.isEmpty, nodeID.utf8.count <= maxNodeIDBytes, nodeID != ownNodeID else {
            return nil
        }
        return DiscoveredPeer(
            nodeID: nodeID, instanceName: instanceName, address: address, port: port, txt: txt, interfaceIndex: interfaceIndex)
    }
}
