/// What a query asks for, as a value: filters, ordering, and a page. The store compiles it to SQL.
package struct DocumentQuery: Hashable, Sendable {
    /// A condition on one field.
    package struct Filter: Hashable, Sendable {
        /// The dot path of the field; `"id"` means the record id.
        package let path: String
        /// The test.
        package let op: FilterOperator

        package init(path: String, op: FilterOperator) {
            self.path = path
            self.op = op
        }
    }

    /// One ordering key.
    package struct SortKey: Hashable, Sendable {
        /// The dot path of the field; `"id"` means the record id.
        package let path: String
        /// Whether larger values come first.
        package let descending: Bool

        package init(path: String, descending: Bool = false) {
            self.path = path
            self.descending = descending
        }
    }

    /// The collection queried.
    package var collection: String
    /// All of these must hold.
    package var filters: [Filter] = []
    /// Ordering keys, most significant first; ties are broken by record id.
    package var sort: [SortKey] = []
    /// At most this many results.
    package var limit: Int?
    /// Skip this many results first.
    package var offset: Int?

    package init(collection: String) {
        self.collection = collection
    }

    /// The path that names the record id rather than a field.
    package static let idPath = "id"
}

/// The fifteen operators of the original query API.
public enum FilterOperator: Hashable, Sendable {
    /// The field equals the value (same JSON type and value).
    case isEqualTo(JSONValue)
    /// The field is missing or differs from the value.
    case isNotEqualTo(JSONValue)
    /// The field is a number or string less than the value (same type).
    case isLessThan(JSONValue)
    /// The field is less than or equal to the value (same type).
    case isLessThanOrEqualTo(JSONValue)
    /// The field is greater than the value (same type).
    case isGreaterThan(JSONValue)
    /// The field is greater than or equal to the value (same type).
    case isGreaterThanOrEqualTo(JSONValue)
    /// The field is a string starting with this prefix (case-sensitive).
    case startsWith(String)
    /// The field is a string ending with this suffix (case-sensitive).
    case endsWith(String)
    /// The field is a string containing this text (case-sensitive).
    case contains(String)
    /// The field is an array with an element equal to the value.
    case arrayContains(JSONValue)
    /// The field is an array with an element equal to one of the values.
    case arrayContainsAny([JSONValue])
    /// The field equals one of the values.
    case whereIn([JSONValue])
    /// The field is missing or equals none of the values.
    case whereNotIn([JSONValue])
    /// With `true`: the field is missing or null; with `false`: it is present and not null.
    case isNull(Bool)
}
