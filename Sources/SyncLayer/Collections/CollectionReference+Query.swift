import SyncCore
extension CollectionReference {
    /// Documents whose field equals `value`.
    public func `where`(_ field: String, isEqualTo value: JSONValue) -> Query { query.where(field, isEqualTo: value) }
    /// Documents whose field is missing or differs from `value`.
    public func `where`(_ field: String, isNotEqualTo value: JSONValue) -> Query { query.where(field, isNotEqualTo: value) }
    /// Documents whose field is less than `value`.
    public func `where`(_ field: String, isLessThan value: JSONValue) -> Query { query.where(field, isLessThan: value) }
    /// Documents whose field is less than or equal to `value`.
    public func `where`(_ field: String, isLessThanOrEqualTo value: JSONValue) -> Query { query.where(field, isLessThanOrEqualTo: value) }
    /// Documents whose field is greater than `value`.
    public func `where`(_ field: String, isGreaterThan value: JSONValue) -> Query { query.where(field, isGreaterThan: value) }
    /// Documents whose field is greater than or equal to `value`.
    public func `where`(_ field: String, isGreaterThanOrEqualTo value: JSONValue) -> Query { query.where(field, isGreaterThanOrEqualTo: value) }
    /// Documents whose string field starts with `prefix`.
    public func `where`(_ field: String, startsWith prefix: String) -> Query { query.where(field, startsWith: prefix) }
    /// Documents whose string field ends with `suffix`.
    public func `where`(_ field: String, endsWith suffix: String) -> Query { query.where(field, endsWith: suffix) }
    /// Documents whose string field contains `text`.
    public func `where`(_ field: String, contains text: String) -> Query { query.where(field, contains: text) }
    /// Documents whose array field contains `value`.
    public func `where`(_ field: String, arrayContains value: JSONValue) -> Query { query.where(field, arrayContains: value) }
    /// Documents whose array field contains one of `values`.
    public func `where`(_ field: String, arrayContainsAny values: [JSONValue]) -> Query { query.where(field, arrayContainsAny: values) }
    /// Documents whose field equals one of `values`.
    public func `where`(_ field: String, whereIn values: [JSONValue]) -> Query { query.where(field, whereIn: values) }
    /// Documents whose field is missing or equals none of `values`.
    public func `where`(_ field: String, whereNotIn values: [JSONValue]) -> Query { query.where(field, whereNotIn: values) }
    /// Documents whose field is missing or null (`true`), or present and not null (`false`).
    public func `where`(_ field: String, isNull: Bool) -> Query { query.where(field, isNull: isNull) }
    /// Documents whose field passes `op`.
    public func `where`(_ field: String, _ op: FilterOperator) -> Query { query.where(field, op) }
    /// Documents ordered by `field`.
    public func orderBy(_ field: String, descending: Bool = false) -> Query { query.orderBy(field, descending: descending) }
    /// At most `count` documents.
    public func limit(_ count: Int) -> Query { query.limit(count) }
    /// Documents after the first `count`.
    public func offset(_ count: Int) -> Query { query.offset(count) }
    /// How many documents the collection holds.
    public func count() async throws -> Int { try await query.count() }
    /// The first document in id order, or `nil`.
    public func first() async throws -> Document? { try await query.first() }
}
