import SyncCore
import SyncServer
import SyncStore
import SyncTesting
import Testing

/// `synclayer server migrate`: a copy keeps the server id, every server sequence, the vector and the
/// documents, in both directions, and refuses a destination that already holds changes.
@Suite struct ServerStoreMigrationTests {
    /// A store with inserts, updates, deletes from three origins and writes of the original protocol
    /// (the server's own, signed changes).
    func fill(_ store: any ServerStorage) async throws {
        var random = SplitMix64(seed: 16)
        var next: [String: UInt64] = [:]
        for step in 0..<90 {
            let origin = ["aaaa", "bbbb", "cccc"][Int(random.next() % 3)]
            let seq = next[origin, default: 0] + 1
            next[origin] = seq
            let kind: Change.Kind = random.next() % 6 == 0 ? .delete : (random.next() % 2 == 0 ? .insert : .update)
            let fields: JSONObject = kind == .delete ? [:] : ["n": .int(Int64(step)), "k\(random.next() % 3)": .string("s\(step)")]
            let change = Change(id: ChangeID(origin: NodeID(origin)!, seq: seq), hlc: HLCTimestamp(wallMillis: 1_000 + UInt64(step)),
                                collection: step % 4 == 0 ? "notes" : "items", recordID: "r\(random.next() % 15)", kind: kind, fields: fields)
            _ = try await store.commit([change])
            if step % 10 == 0 {
                _ = try await store.commitLegacy([LegacyWrite(kind: .insert, collection: "items", recordID: "legacy\(step)", fields: ["by": .string("rest")])])
            }
        }
    }

    struct Snapshot: Equatable {
        let serverID: NodeID
        let head: UInt64
        let count: Int
        let vector: VersionVector
        let digests: [CollectionDigest]
        let page: [SequencedChange]
    }

    func snapshot(_ location: String) async throws -> Snapshot {
        let store = try await openStorage(location)
        var digests: [CollectionDigest] = []
        for collection in try await store.collections().sorted() { digests.append(try await store.digest(collection: collection)) }
        let snapshot = Snapshot(serverID: store.serverID, head: store.head, count: try await store.changeCount(), vector: try await store.vector(),
                                digests: digests, page: try await store.changes(after: 0, collections: nil, limit: 1_000).changes)
        await store.close()
        return snapshot
    }

    @Test func aCopyKeepsIdentitySequencesAndDocumentsInBothDirections() async throws {
        guard TestStoreKind.available.contains(.postgres) else { return }
        try await withTemporaryDirectory(prefix: "migrate") { directory in
            let source = directory.file("server.sqlite")
            let original = try await openStorage(source)
            try await fill(original)
            await original.close()
            let before = try await snapshot(source)
            #expect(before.count == 99 && before.head == 99)
            try await TestPostgres.withDatabase { url in
                let there = try await migrateServerStore(from: source, to: url, batch: 7)
                #expect(there.changes == 99 && there.head == 99 && there.serverID == before.serverID)
                #expect(try await snapshot(url) == before, "PostgreSQL holds what SQLite held, under the same numbers and id")
                // And back, into a new file.
                let back = directory.file("back.sqlite")
                _ = try await migrateServerStore(from: url, to: back)
                #expect(try await snapshot(back) == before, "back in SQLite, nothing changed")
                // The copy carries on as the same server: its next own change continues its own sequence.
                let store = try await openStorage(url)
                let stamped = try await store.commitLegacy([LegacyWrite(kind: .insert, collection: "items", recordID: "after", fields: [:])])
                #expect(stamped.first?.serverSeq == 100)
                #expect(stamped.first?.change.id.seq == (before.vector[before.serverID]) + 1, "the server's own sequence continues")
                await store.close()
                // A destination that holds changes is refused, and left as it was.
                await #expect(throws: ServerStoreMigrationError.self) { try await migrateServerStore(from: source, to: url) }
                #expect(try await snapshot(url).count == 100)
            }
        }
    }
}
