/// One write, as it travels between nodes and the server: the unit of sync.
///
/// Two changes are equal when their content is (id, HLC, collection, record id, kind, fields):
/// ``signature`` is evidence about the change, carried along, and not part of its identity.
package struct Change: Hashable, Sendable {
    /// What a change does to its document.
    package enum Kind: String, Hashable, Sendable, CaseIterable {
        /// Writes the whole document: fields not in ``Change/fields`` are removed (`save`).
        case insert
        /// Sets the fields in ``Change/fields`` and leaves the others alone (`update`).
        case update
        /// Removes the document, leaving a tombstone (`delete`).
        case delete
    }

    /// The change's globally unique id.
    package let id: ChangeID
    /// When its origin made it.
    package let hlc: HLCTimestamp
    /// The collection of the document it writes.
    package let collection: String
    /// The id of the document it writes.
    package let recordID: String
    /// What it does.
    package let kind: Kind
    /// The fields it sets (the whole document for an insert, empty for a delete).
    package let fields: JSONObject
    /// Its origin's signature, once signed (a node signs its own changes as they leave it).
    package var signature: ChangeSignature?

    package init(id: ChangeID, hlc: HLCTimestamp, collection: String, recordID: String, kind: Kind, fields: JSONObject,
                signature: ChangeSignature? = nil) {
        self.signature = signature
        self.id = id
        self.hlc = hlc
        self.collection = collection
        self.recordID = recordID
        self.kind = kind
        self.fields = kind == .delete ? [:] : fields
    }

    /// The change's place in the merge order.
    package var stamp: Stamp { Stamp(hlc: hlc, origin: id.origin, seq: id.seq) }

    package static func == (lhs: Change, rhs: Change) -> Bool {
        lhs.id == rhs.id && lhs.hlc == rhs.hlc && lhs.collection == rhs.collection && lhs.recordID == rhs.recordID
            && lhs.kind == rhs.kind && lhs.fields == rhs.fields
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(hlc)
        hasher.combine(collection)
        hasher.combine(recordID)
        hasher.combine(kind)
        hasher.combine(fields)
    }
}
