import SyncCore
/// A query on a collection: filters (all must hold), ordering, and a page, run by SQLite.
///
/// Queries are values: every method returns a new query. Dot paths reach nested fields
/// (`"address.city"`); the path `"id"` means the record id.
public struct Query: Sendable {
    let node: SyncNode
    /// The query as a value.
    package private(set) var spec: DocumentQuery

    /// Adds a condition.
    public func `where`(_ field: String, _ op: FilterOperator) -> Query {
        var copy = self
        copy.spec.filters.append(DocumentQuery.Filter(path: field, op: op))
        return copy
    }

    /// The field equals `value` (same JSON type and value).
    public func `where`(_ field: String, isEqualTo value: JSONValue) -> Query { self.where(field, .isEqualTo(value)) }
    /// The field is missing or differs from `value`.
    public func `where`(_ field: String, isNotEqualTo value: JSONValue) -> Query { self.where(field, .isNotEqualTo(value)) }
    /// The field is less than `value` (numbers with numbers, strings with strings).
    public func `where`(_ field: String, isLessThan value: JSONValue) -> Query { self.where(field, .isLessThan(value)) }
    /// The field is less than or equal to `value`.
    public func `where`(_ field: String, isLessThanOrEqualTo value: JSONValue) -> Query { self.where(field, .isLessThanOrEqualTo(value)) }
    /// The field is greater than `value`.
    public func `where`(_ field: String, isGreaterThan value: JSONValue) -> Query { self.where(field, .isGreaterThan(value)) }
    /// The field is greater than or equal to `value`.
    public func `where`(_ field: String, isGreaterThanOrEqualTo value: JSONValue) -> Query { self.where(field, .isGreaterThanOrEqualTo(value)) }
    /// The field is a string starting with `prefix`.
    public func `where`(_ field: String, startsWith prefix: String) -> Query { self.where(field, .startsWith(prefix)) }
    /// The field is a string ending with `suffix`.
    public func `where`(_ field: String, endsWith suffix: String) -> Query { self.where(field, .endsWith(suffix)) }
    /// The field is a string containing `text`.
    public func `where`(_ field: String, contains text: String) -> Query { self.where(field, .contains(text)) }
    /// The field is an array containing `value`.
    public func `where`(_ field: String, arrayContains value: JSONValue) -> Query { self.where(field, .arrayContains(value)) }
    /// The field is an array containing one of `values`.
    public func `where`(_ field: String, arrayContainsAny values: [JSONValue]) -> Query { self.where(field, .arrayContainsAny(values)) }
    /// The field equals one of `values`.
    public func `where`(_ field: String, whereIn values: [JSONValue]) -> Query { self.where(field, .whereIn(values)) }
    /// The field is missing or equals none of `values`.
    public func `where`(_ field: String, whereNotIn values: [JSONValue]) -> Query { self.where(field, .whereNotIn(values)) }
    /// The field is missing or null (`true`), or present and not null (`false`).
    public func `where`(_ field: String, isNull: Bool) -> Query { self.where(field, .isNull(isNull)) }

    /// Orders by `field` (after any earlier ordering); ties end ordered by record id.
    public func orderBy(_ field: String, descending: Bool = false) -> Query {
        var copy = self
        copy.spec.sort.append(DocumentQuery.SortKey(path: field, descending: descending))
        return copy
    }

    /// At most `count` documents.
    public func limit(_ count: Int) -> Query {
        var copy = self
        copy.spec.limit = count
        return copy
    }

    /// Skips the first `count` documents.
    public func offset(_ count: Int) -> Query {
        var copy = self
        copy.spec.offset = count
        return copy
    }

    /// The documents selected now.
    public func get() async throws -> [Document] {
        let spec = self.spec
        return try await translatingErrors { try await node.store.query(spec) }
    }

    /// The first document selected, or `nil`.
    public func first() async throws -> Document? {
        try await limit(1).get().first
    }

    /// How many documents are selected.
    public func count() async throws -> Int {
        let spec = self.spec
        return try await translatingErrors { try await node.store.count(spec) }
    }

    /// The documents selected now, then again each time the result changes.
    public func watch() -> QueryWatch {
        QueryWatch(store: node.store, query: spec)
    }
}
