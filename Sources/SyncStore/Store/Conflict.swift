import SyncCore

/// A remote change that met local changes the server has not acknowledged yet.
package struct Conflict: Sendable, Hashable {
    /// The remote change.
    package let remote: Change
    /// This node's pending changes to the same document, oldest first.
    package let pending: [Change]
    /// The document before the remote change (`nil` when it did not exist).
    package let before: JSONObject?
    /// The document after it (`nil` when it does not exist).
    package let after: JSONObject?

    /// The fields both sides wrote (every field, when either side inserted or deleted).
    package var overlappingFields: Set<String>? {
        if remote.kind != .update || pending.contains(where: { $0.kind != .update }) { return nil }
        let local = Set(pending.flatMap(\.fields.keys))
        return local.intersection(remote.fields.keys)
    }

    /// Whether both sides touched something in common.
    package var overlaps: Bool {
        overlappingFields.map { !$0.isEmpty } ?? true
    }
}

/// What applying a batch of remote changes did.
package struct RemoteApplyResult: Sendable, Hashable {
    /// Per change, in order.
    package let outcomes: [ApplyOutcome]
    /// Remote changes that met pending local changes on overlapping fields.
    package let conflicts: [Conflict]
}
