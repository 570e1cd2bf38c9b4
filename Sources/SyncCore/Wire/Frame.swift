/// A WebSocket frame, as the original protocol defines them plus our extensions.
///
/// The original's frames keep their exact shape (`type`, `collection`, `recordId`, `data`,
/// `timestamp`, `metadata`); the frames it did not have (`hello`, `changes`, `ack`) carry their
/// payload in `data`. See `Docs/Protocol.md`.
package enum Frame: Hashable, Sendable {
    /// Client: deliver changes of this collection.
    case subscribe(collection: String)
    /// Client: stop delivering changes of this collection.
    case unsubscribe(collection: String)
    /// Server: the subscription is active.
    case subscribed(collection: String)
    /// Server: the subscription is gone.
    case unsubscribed(collection: String)
    /// Either side: one insert, update or delete.
    case change(ChangeMessage)
    /// Keep-alive; `time` is the sender's wall clock in milliseconds when it sends one.
    case ping(time: UInt64?)
    /// Keep-alive answer; `time` is the answering side's wall clock in milliseconds.
    case pong(time: UInt64?)
    /// Server: a full snapshot of records of a collection, as the original sends it.
    case sync(collection: String, records: [SyncRecord])
    /// Either side: a refused frame or request.
    case error(FrameError)
    /// Client, first frame: authenticate with a token.
    case auth(token: String)
    /// Server: the token was accepted.
    case authenticated
    /// Ours: who the sender is and what it holds, sent first on every connection.
    case hello(Hello)
    /// Ours: several changes at once (catch-up, relay).
    case changes(ChangeBatch)
    /// Ours: the server committed these changes.
    case ack(Ack)
    /// Ours, between LAN peers: who the sender is, whether it reaches the server, what it holds.
    case peerHello(PeerHello)
    /// Ours, between LAN peers: changes passed on through the mesh.
    case relay(RelayBatch)
}

/// One record of a `sync` frame: `{id, data, version, updatedAt}`.
package struct SyncRecord: Hashable, Sendable {
    package var id: String
    package var data: JSONObject
    package var version: Int64?
    package var updatedAt: String?

    package init(id: String, data: JSONObject, version: Int64? = nil, updatedAt: String? = nil) {
        self.id = id
        self.data = data
        self.version = version
        self.updatedAt = updatedAt
    }
}

/// What a node or server says about itself when a connection opens.
package struct Hello: Hashable, Sendable {
    /// The sender's node id (the server's id for a server).
    package var nodeID: NodeID
    /// Protocol version the sender speaks.
    package var protocolVersion: Int
    /// What the sender holds, per origin.
    package var vector: VersionVector
    /// For a node talking to the server: the server sequence it has pulled up to.
    package var cursor: UInt64?
    /// The server that `cursor` belongs to; a server ignores a cursor that is not its own.
    package var cursorOwner: NodeID?
    /// The sender's wall clock, milliseconds since the epoch.
    package var time: UInt64?
    /// For a node talking to the server: the collections to subscribe to.
    package var collections: [String]
    /// The connection's frame key (`data.key`, ``FrameKey``): from a node, its offer
    /// (``FrameKeyExchange/offer``); from the server, its answer.
    package var frameKey: [UInt8]?

    package init(nodeID: NodeID, protocolVersion: Int = 1, vector: VersionVector, cursor: UInt64? = nil, cursorOwner: NodeID? = nil,
                time: UInt64? = nil, collections: [String] = [], frameKey: [UInt8]? = nil) {
        self.nodeID = nodeID
        self.protocolVersion = protocolVersion
        self.vector = vector
        self.cursor = cursor
        self.cursorOwner = cursorOwner
        self.time = time
        self.collections = collections
        self.frameKey = frameKey
    }
}

/// Several changes in one frame, each with the server's sequence when the server sends them.
package struct ChangeBatch: Hashable, Sendable {
    package var changes: [ChangeMessage]
    /// From the server: every change up to this sequence that the receiver may see has been sent.
    package var cursor: UInt64?
    /// From a node: one signature of its own over all its changes in the frame (`data.sig`, as
    /// ``ChangeSigner/frameSignature(for:)`` makes it), so that the server checks one signature
    /// instead of one per change.
    package var signature: ChangeSignature?
    /// From a node that shares a ``FrameKey`` with the server: the key's code over the frame's bytes
    /// (`data.mac`, ``FrameKey/seal(_:)``), in place of ``signature``.
    package var code: [UInt8]?

    package init(changes: [ChangeMessage], cursor: UInt64? = nil, signature: ChangeSignature? = nil, code: [UInt8]? = nil) {
        self.changes = changes
        self.cursor = cursor
        self.signature = signature
        self.code = code
    }
}

/// The server committed these changes; they may leave the sender's outbox.
package struct Ack: Hashable, Sendable {
    /// The committed change ids with the server sequence each got (0 when it was a duplicate).
    package var committed: [ChangeID: UInt64]
    /// Change ids the server refused, with why.
    package var rejected: [ChangeID: FrameError]
    /// The receiver's cursor may move to this sequence.
    package var cursor: UInt64?
    /// Changes of other origins that the server committed and did not send, because the receiver
    /// said (in its `hello` vector) that it holds them: per origin, ranges of sequence numbers. They
    /// may leave the receiver's outbox (it got them over the mesh), so no gateway uploads them again.
    package var held: [NodeID: [ClosedRange<UInt64>]]

    package init(committed: [ChangeID: UInt64], rejected: [ChangeID: FrameError] = [:], cursor: UInt64? = nil,
                held: [NodeID: [ClosedRange<UInt64>]] = [:]) {
        self.committed = committed
        self.rejected = rejected
        self.cursor = cursor
        self.held = held
    }
}
