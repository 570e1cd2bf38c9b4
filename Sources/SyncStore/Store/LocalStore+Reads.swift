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
        return try await readers.read { connection in
            let statement = try connection.statement("SELECT body FROM documents WHERE collection = ?1 AND id = ?2 AND visible = 1")
            try statement.bind(collection, at: 1)
            try statement.bind(id, at: 2)
            guard try statement.step() else { return nil }
            return Document(id: id, data: try statement.withText(0) { try JSONParser().parseObject($0) })
        }
    }

    /// The documents a query selects, filtered, ordered and paged by SQLite.
    public func query(_ query: DocumentQuery) async throws -> [Document] {
        try validate(collection: query.collection, id: nil)
        let compiled = try QueryCompiler.compile(query, selecting: .documents)
        return try await readers.read { connection in
            let statement = try connection.statement(compiled.sql)
            try statement.bind(compiled.bindings)
            var results: [Document] = []
            let parser = JSONParser()
            while try statement.step() {
                let data = try statement.withText(1) { try parser.parseObject($0) }
                results.append(Document(id: statement.text(0), data: data))
            }
            return results
        }
    }

    /// How many documents a query selects (after its limit and offset).
    public func count(_ query: DocumentQuery) async throws -> Int {
        try validate(collection: query.collection, id: nil)
        let compiled = try QueryCompiler.compile(query, selecting: .count)
        return try await readers.read { connection in
            let statement = try connection.statement(compiled.sql)
            try statement.bind(compiled.bindings)
            return try statement.step() ? Int(statement.int64(0)) : 0
        }
    }

    /// The collection's document count and content digest.
    public func digest(collection: String) async throws -> CollectionDigest {
        try validate(collection: collection, id: nil)
        return try await readers.read { connection in
            let statement = try connection.statement("SELECT id, body FROM documents WHERE collection = ?1 AND visible = 1 ORDER BY id")
            try statement.bind(collection, at: 1)
            var digest = ContentDigest()
            while try statement.step() {
                statement.withText(1) { body in digest.add(id: statement.text(0), canonicalBody: body) }
            }
            return CollectionDigest(collection: collection, count: digest.count, digest: digest.finalize())
        }
    }

    /// The collections that hold at least one document, in name order.
    public func collections() async throws -> [String] {
        try await readers.read { connection in
            let statement = try connection.statement("SELECT DISTINCT collection FROM documents WHERE visible = 1 ORDER BY collection")
            var names: [String] = []
            while try statement.step() { names.append(statement.text(0)) }
            return names
        }
    }
}
