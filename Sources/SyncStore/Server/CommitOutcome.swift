import SyncCore

/// What the server did with one submitted change.
public enum CommitOutcome: Hashable, Sendable {
    /// Committed with this server sequence; `duplicate` when it was already there.
    case committed(serverSeq: UInt64, duplicate: Bool)
    /// Refused, with why.
    case rejected(FrameError)
}

/// A change with the sequence the server gave it.
public struct SequencedChange: Hashable, Sendable {
    /// The change.
    public let change: Change
    /// The server's sequence for it.
    public let serverSeq: UInt64

    public init(change: Change, serverSeq: UInt64) {
        self.change = change
        self.serverSeq = serverSeq
    }
}

/// A write from a client of the original protocol, which carries no change id or clock.
public struct LegacyWrite: Hashable, Sendable {
    public let kind: Change.Kind
    public let collection: String
    public let recordID: String
    public let fields: JSONObject

    public init(kind: Change.Kind, collection: String, recordID: String, fields: JSONObject) {
        self.kind = kind
        self.collection = collection
        self.recordID = recordID
        self.fields = fields
    }
}
