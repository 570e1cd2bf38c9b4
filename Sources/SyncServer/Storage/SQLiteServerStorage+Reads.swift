import SyncCore
import SyncStore

extension SQLiteServerStorage {
    /// Changes after `cursor` and up to `last`, in the given collections (all when `nil`), skipping
    /// those `vector` already covers; at most `limit` returned, at most `limit * 4` scanned per call.
    package func changes(after cursor: UInt64, through last: UInt64, collections: Set<String>?,
                        skipping vector: VersionVector, limit: Int) async throws -> ChangePage {
        let collectionList = collections.map { JSONValue.array($0.sorted().map { .string($0) }).canonicalString }
        return try await readers.read { connection in
            let statement = try connection.statement(static: """
                SELECT server_seq, origin, seq, hlc, collection, record_id, kind, fields, sig FROM changes
                WHERE server_seq > ?1 AND server_seq <= ?4 AND (?2 IS NULL OR collection IN (SELECT value FROM json_each(?2)))
                ORDER BY server_seq LIMIT ?3
                """)
            try statement.bind(Int64(bitPattern: cursor), at: 1)
            try statement.bind(collectionList.map { .text($0) } ?? .null, at: 2)
            try statement.bind(Int64(limit * 4 + 1), at: 3)
            try statement.bind(Int64(clamping: last), at: 4)
            var result: [SequencedChange] = []
            var scanned = cursor
            var more = false
            let parser = JSONParser()
            while try statement.step() {
                let serverSeq = UInt64(bitPattern: statement.int64(0))
                if result.count == limit {
                    more = true
                    break
                }
                guard let origin = NodeID(statement.text(1)), let kind = ChangeKindCode.kind(statement.int64(6)) else {
                    throw StoreError(.corrupted, "unreadable row in the server's change log")
                }
                let seq = UInt64(bitPattern: statement.int64(2))
                scanned = serverSeq
                if seq <= vector[origin] { continue }
                let fields = try statement.withText(7) { try parser.parseObject($0) }
                let change = Change(id: ChangeID(origin: origin, seq: seq), hlc: HLCTimestamp(rawValue: UInt64(bitPattern: statement.int64(3))),
                                    collection: statement.text(4), recordID: statement.text(5), kind: kind, fields: fields,
                                    signature: statement.isNull(8) ? nil : ChangeSignature(wireText: statement.text(8)))
                result.append(SequencedChange(change: change, serverSeq: serverSeq))
            }
            if !more, result.count < limit, scanned > cursor {
                // Scanned the whole window without filling the page: there may be more beyond it.
                more = try connection.scalarInt("SELECT 1 FROM changes WHERE server_seq > ?1 AND server_seq <= ?2 LIMIT 1",
                                                .int(Int64(bitPattern: scanned)), .int(Int64(clamping: last))) != nil
            }
            return ChangePage(changes: result, cursor: scanned, more: more)
        }
    }

    /// Per origin, the highest sequence held without a gap, as of the last commit, without reading
    /// the database: a change numbered at or below it is one the server holds already.
    package var heldVector: VersionVector { writer.heldVector }

    /// The server's version vector.
    package func vector() async throws -> VersionVector {
        try await readers.read { try DocumentTable.vector($0) }
    }

    /// A document, or `nil`.
    package func get(collection: String, id: String) async throws -> Document? {
        try await readers.read { try DocumentTable.get($0, collection: collection, id: id) }
    }

    /// The collection's document count and content digest.
    package func digest(collection: String) async throws -> CollectionDigest {
        try await readers.read { try DocumentTable.digest($0, collection: collection) }
    }

    /// The collections holding at least one document.
    package func collections() async throws -> [String] {
        try await readers.read { try DocumentTable.collections($0) }
    }

    /// Documents changed after `since` (server time, ms), oldest change first, for the original
    /// protocol's pull; deleted documents are not included (that protocol has no tombstones).
    package func records(collection: String, since: UInt64, limit: Int, offset: Int) async throws -> [ServerRecord] {
        try await readers.read { connection in
            let statement = try connection.statement(static: """
                SELECT id, body, updated_at, updated_seq FROM documents
                WHERE collection = ?1 AND visible = 1 AND updated_at > ?2 ORDER BY updated_seq LIMIT ?3 OFFSET ?4
                """)
            try statement.bind(collection, at: 1)
            try statement.bind(Int64(bitPattern: since), at: 2)
            try statement.bind(Int64(limit), at: 3)
            try statement.bind(Int64(offset), at: 4)
            var records: [ServerRecord] = []
            while try statement.step() {
                records.append(ServerRecord(id: statement.text(0), data: try statement.withText(1) { try JSONParser().parseObject($0) },
                                            updatedAt: UInt64(bitPattern: statement.int64(2)), version: UInt64(bitPattern: statement.int64(3))))
            }
            return records
        }
    }

    /// How many changes the server holds.
    package func changeCount() async throws -> Int {
        try await readers.read { Int(try $0.scalarInt("SELECT count(*) FROM changes") ?? 0) }
    }

    /// One process writes an SQLite store: its head is the store's.
    package func clusterHead() async throws -> UInt64 { head }
}
