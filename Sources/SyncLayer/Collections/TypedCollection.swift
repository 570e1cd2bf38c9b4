#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SyncCore

/// A collection whose documents are a `Codable` type: the typed layer over ``CollectionReference``.
///
/// Values are encoded with `JSONEncoder` (dates as ISO 8601) into JSON documents, so the same
/// collection can be read untyped, by other nodes, or by a client of the original protocol.
public struct TypedCollection<Value: Codable & Sendable>: Sendable {
    /// The untyped collection underneath.
    public let base: CollectionReference

    /// Saves `value` as a whole document; returns its id.
    @discardableResult
    public func save(_ value: Value, id: String? = nil) async throws -> String {
        try await base.save(try TypedCoding.encode(value), id: id)
    }

    /// The value with this id, or `nil`.
    public func get(_ id: String) async throws -> Value? {
        try await base.get(id).map { try TypedCoding.decode(Value.self, from: $0.data) }
    }

    /// Every value with its id, in id order.
    public func getAll() async throws -> [Identified<Value>] {
        try TypedCoding.decode(Value.self, from: await base.getAll())
    }

    /// Sets the given fields only.
    public func update(_ id: String, _ fields: JSONObject) async throws {
        try await base.update(id, fields)
    }

    /// Deletes the value with this id.
    public func delete(_ id: String) async throws {
        try await base.delete(id)
    }

    /// Runs `query` (built on ``base``) and decodes the results.
    public func get(_ query: Query) async throws -> [Identified<Value>] {
        try TypedCoding.decode(Value.self, from: await query.get())
    }

    /// Every value now, then again on each change.
    public func watch() -> some AsyncSequence<[Identified<Value>], any Error> {
        base.watch().map { try TypedCoding.decode(Value.self, from: $0) }
    }
}

/// A decoded value with its record id.
public struct Identified<Value: Sendable>: Sendable, Identifiable {
    /// The record id.
    public let id: String
    /// The decoded document.
    public let value: Value

    /// Pairs `value` with the id of the record it was decoded from.
    ///
    /// ``TypedCollection`` creates these for its reads; create one yourself only to stand in for a read
    /// result (in a test, say). Nothing is checked or stored.
    public init(id: String, value: Value) {
        self.id = id
        self.value = value
    }
}

extension Identified: Equatable where Value: Equatable {}
extension Identified: Hashable where Value: Hashable {}

enum TypedCoding {
    static func encode<Value: Encodable>(_ value: Value) throws -> JSONObject {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(value)
        do {
            return try JSONParser().parseObject(data)
        } catch {
            throw SyncError(.invalidDocument, "\(Value.self) must encode to a JSON object (\(error))")
        }
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from object: JSONObject) throws -> Value {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(Value.self, from: Data(JSONValue.object(object).canonicalBytes))
    }

    static func decode<Value: Decodable & Sendable>(_ type: Value.Type, from documents: [Document]) throws -> [Identified<Value>] {
        try documents.map { Identified(id: $0.id, value: try decode(type, from: $0.data)) }
    }
}
