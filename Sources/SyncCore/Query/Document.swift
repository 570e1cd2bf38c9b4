/// A document as queries return it: its id and its fields.
public struct Document: Hashable, Sendable, Identifiable {
    /// The record id.
    public let id: String
    /// The fields.
    public let data: JSONObject

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
