import SyncCore

extension LocalStore {
    /// The document, or `nil` when it does not exist.
    ///
    /// Read on the calling thread when a reader connection is idle (``ReaderPool/readInlineIfIdle(_:)``),
    /// as are ``query(_:)`` and ``count(_:)``: an application's reads, and what `watch()` reads
    /// after each commit, are mostly small, and the hand-offs to a reader thread and back cost more.
    package func get(collection: String, id: String) async throws -> Document? {
        try validate(collection: collection, id: id)
        return try await readers.readInlineIfIdle { try DocumentTable.get($0, collection: collection, id: id) }
    }

    /// The documents a query selects, filtered, ordered and paged by SQLite.
    package func query(_ query: DocumentQuery) async throws -> [Document] {
        try await self.query(compiled: compile(query))
    }

    /// A query checked and compiled once, for reading it again and again (``query(compiled:)``):
    /// `watch()` reads its query after every commit, and compiling it each time cost more than
    /// SQLite's part of the read.
    package func compile(_ query: DocumentQuery) throws -> QueryCompiler.Compiled {
        try validate(collection: query.collection, id: nil)
        return try QueryCompiler.compile(query, selecting: .documents)
    }

    /// The documents a compiled query (``compile(_:)``) selects now.
    package func query(compiled: QueryCompiler.Compiled) async throws -> [Document] {
        try await readers.readInlineIfIdle { try DocumentTable.query($0, compiled) }
    }

    /// How many documents a query selects (after its limit and offset).
    package func count(_ query: DocumentQuery) async throws -> Int {
        try validate(collection: query.collection, id: nil)
        let compiled = try QueryCompiler.compile(query, selecting: .count)
        return try await readers.readInlineIfIdle { try DocumentTable.count($0, compiled) }
    }

    /// The collection's document count and content digest.
    package func digest(collection: String) async throws -> CollectionDigest {
        try validate(collection: collection, id: nil)
        return try await readers.read { try DocumentTable.digest($0, collection: collection) }
    }

    /// The collections that hold at least one document, in name order.
    package func collections() async throws -> [String] {
        try await readers.read { try DocumentTable.collections($0) }
    }
}
