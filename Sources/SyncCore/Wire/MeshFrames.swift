/// What a node says to a LAN peer when a mesh link opens, and again whenever its state changes.
package struct PeerHello: Hashable, Sendable {
    /// The sender's node id.
    package var nodeID: NodeID
    /// Mesh protocol version the sender speaks.
    package var protocolVersion: Int
    /// The team the sender belongs to (an id, never a secret).
    package var team: String
    /// Whether the sender currently reaches the server.
    package var uplink: Bool
    /// What the sender holds, per origin.
    package var vector: VersionVector
    /// Whether the receiver should answer with its own state (the sender's state changed).
    package var wantsReply: Bool
    /// Per origin, the sequence through which the sender knows the server committed every change
    /// (its acknowledged marks): a receiver may drop other origins' changes up to it from its outbox.
    package var acknowledged: VersionVector

    package init(nodeID: NodeID, protocolVersion: Int = 1, team: String, uplink: Bool, vector: VersionVector, wantsReply: Bool = false,
                acknowledged: VersionVector = VersionVector()) {
        self.acknowledged = acknowledged
        self.nodeID = nodeID
        self.protocolVersion = protocolVersion
        self.team = team
        self.uplink = uplink
        self.vector = vector
        self.wantsReply = wantsReply
    }
}

/// Changes passed between LAN peers.
package struct RelayBatch: Hashable, Sendable {
    /// The changes; `metadata.acked` is `true` on those the server is known to have committed.
    package var changes: [ChangeMessage]
    /// How many mesh links these changes crossed so far, this one included (1 from their first holder).
    package var hops: Int
    /// Nodes the sender also sent this batch to: the receiver does not pass it on to them.
    package var sentTo: [NodeID]

    package init(changes: [ChangeMessage], hops: Int, sentTo: [NodeID] = []) {
        self.changes = changes
        self.hops = hops
        self.sentTo = sentTo
    }
}

extension ChangeMessage {
    /// Whether a relayed change is marked as committed on the server.
    package var isAcknowledged: Bool {
        metadata["acked"]?.boolValue ?? false
    }

    /// The change's frame for a peer, marked as committed on the server when `acknowledged`.
    package init(relaying change: Change, acknowledged: Bool) {
        self.init(change)
        if acknowledged { metadata["acked"] = true }
    }
}

extension FrameCodec {
    static func object(for hello: PeerHello) -> JSONObject {
        var data: JSONObject = ["nodeId": .string(hello.nodeID.rawValue), "protocol": .int(Int64(hello.protocolVersion)),
                                "team": .string(hello.team), "uplink": .bool(hello.uplink), "vector": hello.vector.jsonValue]
        if hello.wantsReply { data["reply"] = true }
        if hello.acknowledged != VersionVector() { data["acked"] = hello.acknowledged.jsonValue }
        return ["type": "peerHello", "data": .object(data)]
    }

    static func object(for batch: RelayBatch) -> JSONObject {
        var data: JSONObject = ["changes": .array(batch.changes.map { .object(object(for: $0)) }), "hops": .int(Int64(batch.hops))]
        if !batch.sentTo.isEmpty { data["sentTo"] = .array(batch.sentTo.map { .string($0.rawValue) }) }
        return ["type": "relay", "data": .object(data)]
    }

    static func peerHello(from object: JSONObject) throws(FrameError) -> PeerHello {
        guard let data = object["data"]?.objectValue,
              let nodeText = data["nodeId"]?.stringValue, let nodeID = NodeID(nodeText) else {
            throw FrameError(.invalidMessage, "peerHello needs \"data.nodeId\"")
        }
        guard let team = data["team"]?.stringValue, team.utf8.count <= 200 else {
            throw FrameError(.invalidMessage, "peerHello needs \"data.team\" (at most 200 bytes)")
        }
        guard let vectorValue = data["vector"], let vector = VersionVector(json: vectorValue) else {
            throw FrameError(.invalidMessage, "peerHello needs \"data.vector\" mapping node ids to sequences")
        }
        guard let uplink = data["uplink"]?.boolValue else {
            throw FrameError(.invalidMessage, "peerHello needs \"data.uplink\" as a boolean")
        }
        let version = data["protocol"]?.intValue ?? 1
        var acknowledged = VersionVector()
        if let value = data["acked"] {
            guard let vector = VersionVector(json: value) else {
                throw FrameError(.invalidMessage, "\"data.acked\" must map node ids to sequences")
            }
            acknowledged = vector
        }
        return PeerHello(nodeID: nodeID, protocolVersion: Int(clamping: version), team: team, uplink: uplink, vector: vector,
                         wantsReply: data["reply"]?.boolValue ?? false, acknowledged: acknowledged)
    }

    func relay(from object: JSONObject) throws(FrameError) -> RelayBatch {
        let batch = try changes(from: object)
        guard let hops = object["data"]?["hops"]?.intValue, hops >= 1, hops <= 255 else {
            throw FrameError(.invalidMessage, "relay needs \"data.hops\" between 1 and 255")
        }
        var sentTo: [NodeID] = []
        if let value = object["data"]?["sentTo"] {
            guard let list = value.arrayValue, list.count <= 1_000 else {
                throw FrameError(.invalidMessage, "\"data.sentTo\" must be an array of node ids")
            }
            for item in list {
                guard let text = item.stringValue, let id = NodeID(text) else {
                    throw FrameError(.invalidMessage, "\"data.sentTo\" must be an array of node ids")
                }
                sentTo.append(id)
            }
        }
        for message in batch.changes where message.change == nil {
            throw FrameError(.invalidMessage, "relayed changes need \"metadata.changeId\" and \"metadata.hlc\"")
        }
        return RelayBatch(changes: batch.changes, hops: Int(hops), sentTo: sentTo)
    }
}
