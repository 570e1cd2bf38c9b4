import SyncCore
/// Something that happened in a node: the original SDK's event types plus the mesh's.
public struct SyncEvent: Sendable, Hashable {
    /// The event types.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case syncStarted, syncCompleted, syncFailed
        case operationQueued, operationSynced, operationFailed
        case conflictDetected, conflictResolved
        case connectivityChanged
        case realtimeConnected, realtimeDisconnected, realtimeInsert, realtimeUpdate, realtimeDelete, realtimeSync
        case error
        case peerDiscovered, peerConnected, peerLost, relayed
        /// A change from elsewhere was applied to the store: one event per change, whether it came
        /// from the server (realtime or polled) or a LAN peer. Metadata: `source` (`server` or
        /// `peer`), `peer` (the node id of the peer that sent it, for `peer`), `changeId` and `kind`
        /// (when the change has them: a backend of the original protocol sends neither id nor clock).
        /// Local writes are ``operationQueued`` (with `source` `local`).
        case changeApplied
    }

    /// What happened.
    public let kind: Kind
    /// The collection concerned, if any.
    public let collection: String?
    /// The record concerned, if any.
    public let recordID: String?
    /// The error's description, for failures.
    public let error: String?
    /// Details (`strategy` for conflicts, `peer` for mesh events, …).
    public let metadata: JSONObject
    /// When, in milliseconds since the epoch.
    public let time: UInt64

    /// Creates an event of `kind` that happened at `time` (milliseconds since the epoch), with the
    /// collection, record, error and details it concerns.
    ///
    /// A node creates its own events and delivers them through ``SyncNode/events()``; create one yourself
    /// only to feed code that consumes events (in a test, say).
    public init(_ kind: Kind, collection: String? = nil, recordID: String? = nil, error: String? = nil,
                metadata: JSONObject = [:], time: UInt64) {
        self.kind = kind
        self.collection = collection
        self.recordID = recordID
        self.error = error
        self.metadata = metadata
        self.time = time
    }
}
