import SyncCore

/// A collection's document count and content digest (see ``ContentDigest``).
public struct CollectionDigest: Hashable, Sendable {
    /// The collection.
    public let collection: String
    /// How many documents exist.
    public let count: Int
    /// 64 hex digits, equal on two stores exactly when their documents are equal.
    public let digest: String
}

extension LocalStore {
    /// The document, or `nil` when it does not exist.
    public func get(collection: String, id: String) async throws -> Document? {
        try validate(collection: collection, id: id)
        return try await readers.read { try DocumentTable.get($0, collection: collection, id: id) }
    }

    /// The documents a query selects, filtered, ordered and paged by SQLite.
    public func query(_ query: DocumentQuery) async throws -> [Document] {
        try validate(collection: query.collection, id: nil)
        let compiled = try QueryCompiler.compile(query, selecting: .documents)
        return try await readers.read { try DocumentTable.query($0, compiled) }
    }

    /// How many documents a query selects (after its limit and offset).
    public func count(_ query: DocumentQuery) async throws -> Int {
        try validate(collection: query.collection, id: nil)
        let compiled = try QueryCompiler.compile(query, selecting: .count)
        return try await readers.read { try DocumentTable.count($0, compiled) }
    }

    /// The collection's document count and content digest.
    public func digest(collection: String) async throws -> CollectionDigest {
        try validate(collection: collection, id: nil)
        return try await readers.read { try DocumentTable.digest($0, collection: collection) }
    }

    /// The collections that hold at least one document, in name order.
    public func collections() async throws -> [String] {
        try await readers.read { try DocumentTable.collections($0) }
    }
}
