import SyncCore
import SyncStore

/// What the server did with one submitted change.
package enum CommitOutcome: Hashable, Sendable {
    /// Committed with this server sequence; `duplicate` when it was already there.
    case committed(serverSeq: UInt64, duplicate: Bool)
    /// Refused, with why.
    case rejected(FrameError)
}

/// A change with the sequence the server gave it.
package struct SequencedChange: Hashable, Sendable {
    /// The change.
    package let change: Change
    /// The server's sequence for it.
    package let serverSeq: UInt64

    package init(change: Change, serverSeq: UInt64) {
        self.change = change
        self.serverSeq = serverSeq
    }
}

/// A write from a client of the original protocol, which carries no change id or clock.
package struct LegacyWrite: Hashable, Sendable {
    package let kind: Change.Kind
    package let collection: String
    package let recordID: String
    package let fields: JSONObject

    package init(kind: Change.Kind, collection: String, recordID: String, fields: JSONObject) {
        self.kind = kind
        self.collection = collection
        self.recordID = recordID
        self.fields = fields
    }
}

/// A page of changes for a pull or a catch-up.
package struct ChangePage: Sendable, Hashable {
    /// The changes, in server sequence order.
    package let changes: [SequencedChange]
    /// Every change up to this sequence was considered: the reader's cursor may move here.
    package let cursor: UInt64
    /// Whether more changes follow.
    package let more: Bool

    /// The page as a node is sent it: the server's own changes, stored unsigned, signed by `signer`
    /// on the way out (`Docs/Security.md`), each with its server sequence.
    package func messages(signedBy signer: ChangeSigner) -> [ChangeMessage] {
        changes.map { ChangeMessage(signer.signingOwn($0.change), serverSeq: $0.serverSeq) }
    }
}

/// A document as the original protocol's pull returns it.
package struct ServerRecord: Sendable, Hashable {
    package let id: String
    package let data: JSONObject
    /// When the server last changed it (ms since the epoch, by the server's clock).
    package let updatedAt: UInt64
    /// The server sequence of its last change.
    package let version: UInt64
}
