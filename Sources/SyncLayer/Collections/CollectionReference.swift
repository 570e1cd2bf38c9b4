#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SyncCore

/// A collection of JSON documents on a node: the original SDK's collection API.
///
/// Writes return once they are durable locally; the sync engine hears of every commit from the
/// store itself, so a write is queued for sync by being committed. Results carry their record id.
public struct CollectionReference: Sendable {
    /// The collection's name.
    public let name: String
    let node: SyncNode

    /// Writes a whole document and returns its id (a new UUID when `id` is `nil`). Saving an id
    /// that was deleted brings the document back.
    @discardableResult
    public func save(_ data: JSONObject, id: String? = nil) async throws -> String {
        try node.checkConfigured(name)
        let recordID = id ?? Self.newID()
        _ = try await translatingErrors { try await node.store.put(collection: name, id: recordID, fields: data) }
        return recordID
    }

    /// The document with this id, or `nil`.
    public func get(_ id: String) async throws -> Document? {
        try await translatingErrors { try await node.store.get(collection: name, id: id) }
    }

    /// Every document, in id order.
    public func getAll() async throws -> [Document] {
        try await query.get()
    }

    /// Sets the given fields and leaves the others alone; only these fields are sent.
    ///
    /// - Throws: ``SyncError`` with code `notFound` when the document does not exist.
    public func update(_ id: String, _ fields: JSONObject) async throws {
        try node.checkConfigured(name)
        _ = try await translatingErrors { try await node.store.update(collection: name, id: id, fields: fields) }
    }

    /// Deletes the document (a tombstone that syncs); does nothing when it does not exist.
    public func delete(_ id: String) async throws {
        try node.checkConfigured(name)
        _ = try await translatingErrors { try await node.store.delete(collection: name, id: id) }
    }

    /// Writes many new documents in one transaction; returns their new ids in order.
    @discardableResult
    public func saveAll(_ documents: [JSONObject]) async throws -> [String] {
        let identified = documents.map { Document(id: Self.newID(), data: $0) }
        try await saveAll(identified)
        return identified.map(\.id)
    }

    /// Writes many documents with their ids in one transaction.
    public func saveAll(_ documents: [Document]) async throws {
        try node.checkConfigured(name)
        _ = try await translatingErrors {
            try await node.store.putAll(collection: name, documents: documents.map { ($0.id, $0.data) })
        }
    }

    /// Deletes these documents in one transaction (ids that do not exist are skipped).
    public func deleteAll(_ ids: [String]) async throws {
        try node.checkConfigured(name)
        _ = try await translatingErrors { try await node.store.deleteAll(collection: name, ids: ids) }
    }

    /// Deletes every document of the collection in one transaction.
    public func deleteAll() async throws {
        try node.checkConfigured(name)
        _ = try await translatingErrors { try await node.store.deleteAll(collection: name, ids: nil) }
    }

    /// Every document now, then again each time the collection changes (local or remote writes).
    public func watch() -> QueryWatch {
        query.watch()
    }

    /// The collection as a query with no conditions.
    public var query: Query {
        Query(node: node, spec: DocumentQuery(collection: name))
    }

    /// The collection's document count and content digest.
    public func digest() async throws -> CollectionDigest {
        try await translatingErrors { try await node.store.digest(collection: name) }
    }

    static func newID() -> String {
        UUID().uuidString.lowercased()
    }
}
