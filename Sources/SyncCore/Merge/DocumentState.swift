/// The merge state of one document: per-field last-writer-wins registers under a lifecycle register.
///
/// The state after applying a set of changes depends only on the set, never on the order or on
/// duplicates:
/// - the **lifecycle** is the insert or delete with the greatest stamp;
/// - a field holds the value of the greatest-stamped write to it whose stamp is not below the
///   lifecycle's (an insert or a delete clears every older field write);
/// - the document exists when its lifecycle is an insert, or when it has no lifecycle yet and some
///   field was written (an update that arrived before its insert).
///
/// So a delete is never undone by an older update, a save after a delete brings the document back,
/// and an update never resurrects a deleted document.
package struct DocumentState: Hashable, Sendable {
    /// The last insert or delete.
    package struct Lifecycle: Hashable, Sendable {
        /// The stamp of the insert or delete.
        package let stamp: Stamp
        /// Whether it was a delete.
        package let isDeleted: Bool
    }

    /// One field's register.
    package struct Field: Hashable, Sendable {
        /// The stamp of the write that set it.
        package let stamp: Stamp
        /// Its value.
        package let value: JSONValue
    }

    /// The greatest insert or delete applied, if any.
    package private(set) var lifecycle: Lifecycle?
    /// The live field registers (none older than the lifecycle).
    package private(set) var fields: [String: Field]

    /// A document nothing has been written to.
    package init() {
        lifecycle = nil
        fields = [:]
    }

    init(lifecycle: Lifecycle?, fields: [String: Field]) {
        self.lifecycle = lifecycle
        self.fields = fields
    }

    /// Whether the document exists.
    package var exists: Bool {
        if let lifecycle { return !lifecycle.isDeleted }
        return !fields.isEmpty
    }

    /// The values of the live fields.
    package var body: JSONObject {
        fields.mapValues(\.value)
    }

    /// The greatest stamp in the state; a write stamped after it wins over everything here.
    package var maxStamp: Stamp? {
        var result = lifecycle?.stamp
        for field in fields.values where result == nil || field.stamp > result! {
            result = field.stamp
        }
        return result
    }

    /// Applies one change.
    ///
    /// - Returns: whether the state changed.
    @discardableResult
    package mutating func apply(_ change: Change) -> Bool {
        apply(kind: change.kind, fields: change.fields, stamp: change.stamp)
    }

    /// Applies one change.
    ///
    /// - Returns: whether the state changed, and whether what a reader sees of the document did: it
    ///   came into or went out of existence, or it exists and a live field was added, given another
    ///   value or cleared. The same answer as comparing ``exists`` and ``body`` before and after,
    ///   without building either body.
    package mutating func applyVisibly(_ change: Change) -> (changed: Bool, visible: Bool) {
        let existed = exists
        let (changed, bodyChanged) = merge(kind: change.kind, fields: change.fields, stamp: change.stamp)
        return (changed, changed && (existed != exists || (exists && bodyChanged)))
    }

    /// Applies a write of `kind` setting `fields`, stamped `stamp`.
    ///
    /// - Returns: whether the state changed.
    @discardableResult
    package mutating func apply(kind: Change.Kind, fields written: JSONObject, stamp: Stamp) -> Bool {
        merge(kind: kind, fields: written, stamp: stamp).changed
    }

    /// Applies a write; returns whether the state changed, and whether the live fields' values did.
    private mutating func merge(kind: Change.Kind, fields written: JSONObject, stamp: Stamp) -> (changed: Bool, bodyChanged: Bool) {
        var changed = false
        // The values an insert or delete clears, until a write of this change sets them again.
        var cleared: [String: JSONValue] = [:]
        if kind != .update, lifecycle.map({ stamp > $0.stamp }) ?? true {
            lifecycle = Lifecycle(stamp: stamp, isDeleted: kind == .delete)
            if fields.contains(where: { $0.value.stamp < stamp }) {
                var kept: [String: Field] = [:]
                for (name, field) in fields {
                    if field.stamp >= stamp { kept[name] = field } else { cleared[name] = field.value }
                }
                fields = kept
            }
            changed = true
        }
        // Older than the lifecycle (which the branch above did not move): nothing to apply.
        if let lifecycle, stamp < lifecycle.stamp { return (false, false) }
        var bodyChanged = false
        fields.reserveCapacity(fields.count + written.count)
        for (name, value) in written {
            let current = fields[name]
            guard current.map({ stamp > $0.stamp }) ?? true else { continue }
            if (current?.value ?? cleared.removeValue(forKey: name)) != value { bodyChanged = true }
            fields[name] = Field(stamp: stamp, value: value)
            changed = true
        }
        return (changed, bodyChanged || !cleared.isEmpty)
    }
}
