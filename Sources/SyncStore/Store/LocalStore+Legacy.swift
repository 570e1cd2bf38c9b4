import SyncCore

/// A write received from a backend that speaks only the original protocol: no change id, only a
/// timestamp. It merges by that timestamp (last writer wins) and stays out of the change log and
/// the version vector, which have no place for it.
package struct LegacyChange: Sendable, Hashable {
    package let kind: Change.Kind
    package let collection: String
    package let recordID: String
    package let fields: JSONObject
    /// The write's time (ms since the epoch), from the frame's timestamp or `updatedAt`.
    package let millis: UInt64

    package init(kind: Change.Kind, collection: String, recordID: String, fields: JSONObject, millis: UInt64) {
        self.kind = kind
        self.collection = collection
        self.recordID = recordID
        self.fields = fields
        self.millis = millis
    }

    /// The pseudo-origin that stamps legacy writes (sorts after every real node id at equal times).
    package static let origin = NodeID("zz-legacy-backend")!
}

extension LocalStore {
    /// Merges writes from a backend of the original protocol by their timestamps; moves `cursor` too.
    package func applyLegacy(_ changes: [LegacyChange], cursor: (name: String, value: UInt64)? = nil) async throws {
        for change in changes { try validate(collection: change.collection, id: change.recordID) }
        try await writer.write { context in
            for legacy in changes {
                let stamp = Stamp(hlc: HLCTimestamp(wallMillis: legacy.millis), origin: LegacyChange.origin, seq: 0)
                var document = try context.loadState(collection: legacy.collection, id: legacy.recordID) ?? DocumentState()
                if document.apply(kind: legacy.kind, fields: legacy.fields, stamp: stamp) {
                    try context.storeState(document, collection: legacy.collection, id: legacy.recordID)
                    context.touched.insert(legacy.collection)
                }
            }
            if let cursor { try context.moveCursor(cursor.name, to: cursor.value) }
        }
    }
}
