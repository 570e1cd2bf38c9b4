/// An `insert`, `update` or `delete` frame: the original protocol's change message, with our
/// extensions (change id, HLC, server sequence) in `metadata`.
///
/// A frame from a client that speaks only the original protocol has no change id; ``change`` is
/// then `nil` and the receiver decides how to stamp it.
package struct ChangeMessage: Hashable, Sendable {
    /// Insert, update or delete.
    package var kind: Change.Kind
    /// The collection.
    package var collection: String
    /// The record id.
    package var recordID: String
    /// The fields (the whole document for an insert, changed fields for an update), absent for a delete.
    package var data: JSONObject?
    /// ISO 8601 time of the write, as the original protocol carries it.
    package var timestamp: String?
    /// The original `metadata` object, which also carries our extensions.
    package var metadata: JSONObject

    package init(kind: Change.Kind, collection: String, recordID: String, data: JSONObject?, timestamp: String?, metadata: JSONObject) {
        self.kind = kind
        self.collection = collection
        self.recordID = recordID
        self.data = data
        self.timestamp = timestamp
        self.metadata = metadata
    }

    /// The frame for a change, with the server's sequence when the server sends it.
    package init(_ change: Change, serverSeq: UInt64? = nil) {
        var metadata: JSONObject = ["changeId": .string(change.id.description), "hlc": .string(change.hlc.hexString)]
        if let signature = change.signature { metadata["sig"] = .string(signature.wireText) }
        if let serverSeq {
            metadata["serverSeq"] = .int(Int64(clamping: serverSeq))
            metadata["version"] = .int(Int64(clamping: serverSeq))
        }
        self.init(kind: change.kind, collection: change.collection, recordID: change.recordID,
                  data: change.kind == .delete ? nil : change.fields,
                  timestamp: ISO8601.string(fromMillis: change.hlc.wallMillis), metadata: metadata)
    }

    /// The change id from `metadata.changeId`, when present and valid.
    package var changeID: ChangeID? {
        metadata["changeId"]?.stringValue.flatMap(ChangeID.init)
    }

    /// The HLC reading from `metadata.hlc`, when present and valid.
    package var hlc: HLCTimestamp? {
        metadata["hlc"]?.stringValue.flatMap { HLCTimestamp(hexString: $0) }
    }

    /// The server's sequence for the change, from `metadata.serverSeq`.
    package var serverSeq: UInt64? {
        metadata["serverSeq"]?.intValue.flatMap { $0 > 0 ? UInt64($0) : nil }
    }

    /// The origin's signature from `metadata.sig`: `nil` when absent; one that never verifies when
    /// present but malformed.
    package var signature: ChangeSignature? {
        guard let value = metadata["sig"] else { return nil }
        return ChangeSignature(wireText: value.stringValue ?? "")
    }

    /// The change this frame carries, when it carries our extensions.
    package var change: Change? {
        guard let id = changeID, let hlc else { return nil }
        return Change(id: id, hlc: hlc, collection: collection, recordID: recordID, kind: kind, fields: data ?? [:],
                      signature: signature)
    }
}
