/// A document as queries return it: its id and its fields.
public struct Document: Hashable, Sendable, Identifiable {
    /// The record id.
    public let id: String
    /// The fields.
    public let data: JSONObject

    /// Creates a document from its record id and its fields.
    ///
    /// Nothing is checked here; the id and the fields are checked when the document is written, and a
    /// write with an invalid one fails. `data` holds the fields without the id: an `"id"` field in it is
    /// an ordinary field, which ``dataWithID`` overrides with the record id.
    public init(id: String, data: JSONObject) {
        self.id = id
        self.data = data
    }

    /// The field `key`, or `nil`.
    public subscript(key: String) -> JSONValue? {
        data[key]
    }

    /// The value at a dot path (`"address.city"`).
    public func value(atPath path: String) -> JSONValue? {
        JSONValue.object(data).value(atPath: path)
    }

    /// The fields with the id added under `"id"` (as the original SDK returned them), the id winning
    /// over a field of that name.
    public var dataWithID: JSONObject {
        var result = data
        result["id"] = .string(id)
        return result
    }
}
