import SyncCore

/// Reads of the `documents` table, shared by the node's and the server's stores (same columns).
package enum DocumentTable {
    package static func get(_ connection: SQLiteConnection, collection: String, id: String) throws -> Document? {
        let statement = try connection.statement(static: "SELECT body FROM documents WHERE collection = ?1 AND id = ?2 AND visible = 1")
        try statement.bind(collection, at: 1)
        try statement.bind(id, at: 2)
        guard try statement.step() else { return nil }
        return Document(id: id, data: try statement.withText(0) { try JSONParser().parseObject($0) })
    }

    package static func query(_ connection: SQLiteConnection, _ compiled: QueryCompiler.Compiled) throws -> [Document] {
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

    package static func count(_ connection: SQLiteConnection, _ compiled: QueryCompiler.Compiled) throws -> Int {
        let statement = try connection.statement(compiled.sql)
        try statement.bind(compiled.bindings)
        return try statement.step() ? Int(statement.int64(0)) : 0
    }

    package static func digest(_ connection: SQLiteConnection, collection: String) throws -> CollectionDigest {
        let statement = try connection.statement(static: "SELECT id, body FROM documents WHERE collection = ?1 AND visible = 1 ORDER BY id")
        try statement.bind(collection, at: 1)
        var digest = ContentDigest()
        while try statement.step() {
            statement.withText(1) { body in digest.add(id: statement.text(0), canonicalBody: body) }
        }
        return CollectionDigest(collection: collection, count: digest.count, digest: digest.finalize())
    }

    package static func collections(_ connection: SQLiteConnection) throws -> [String] {
        let statement = try connection.statement(static: "SELECT DISTINCT collection FROM documents WHERE visible = 1 ORDER BY collection")
        var names: [String] = []
        while try statement.step() { names.append(statement.text(0)) }
        return names
    }

    /// The version vector stored in `origins`.
    package static func vector(_ connection: SQLiteConnection) throws(SQLiteError) -> VersionVector {
        var vector = VersionVector()
        let statement = try connection.statement(static: "SELECT origin, contiguous FROM origins")
        while try statement.step() {
            if let origin = NodeID(statement.text(0)) { vector[origin] = UInt64(bitPattern: statement.int64(1)) }
        }
        return vector
    }
}
