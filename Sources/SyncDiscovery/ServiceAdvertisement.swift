/// What a node publishes over DNS-SD: service type, instance name, port and TXT record.
///
/// The instance name is a wish: Avahi may publish it as `name #2` on a collision (the
/// `.published(name:)` event tells the name in use). Peers identify each other by the
/// TXT `node` key, so the name is for people only.
package struct ServiceAdvertisement: Sendable, Hashable {
    /// The service type every SyncLayer node advertises and browses.
    package static let defaultServiceType = "_synclayer._tcp"

    /// The DNS-SD service type, such as `_synclayer._tcp`.
    package var serviceType: String
    /// The wished-for instance name (at most 63 UTF-8 bytes).
    package var instanceName: String
    /// The TCP port the node's peer listener accepts connections on.
    package var port: UInt16
    /// The TXT record; must hold a non-empty `node` key (see ``TXTKey``).
    package var txt: [String: String]

    /// Creates an advertisement from a raw TXT dictionary.
    package init(
        serviceType: String = ServiceAdvertisement.defaultServiceType,
        instanceName: String,
        port: UInt16,
        txt: [String: String]
    ) {
        self.serviceType = serviceType
        self.instanceName = instanceName
        self.port = port
        self.txt = txt
    }

    /// Creates a SyncLayer advertisement with the standard TXT keys.
    package init(
        serviceType: String = ServiceAdvertisement.defaultServiceType,
        instanceName: String,
        port: UInt16,
        nodeID: String,
        protocolVersion: String,
        teamID: String,
        hasUplink: Bool
    ) {
        self.init(
            serviceType: serviceType,
            instanceName: instanceName,
            port: port,
            txt: [
                TXTKey.node: nodeID,
                TXTKey.protocolVersion: protocolVersion,
                TXTKey.team: teamID,
                TXTKey.uplink: hasUplink ? "1" : "0",
            ]
        )
    }

    /// The node id from the TXT `node` key, or an empty string when it is missing.
    package var nodeID: String { txt[TXTKey.node] ?? "" }

    /// Whether the TXT `uplink` key says the node reaches the server.
    package var hasUplink: Bool { txt[TXTKey.uplink] == "1" }
}
