import SyncCore
import Testing

@testable import SyncServer

/// What an instance keeps of the documents its commits wrote (`PostgresDocumentCache`); whether a
/// commit uses an entry is the store's to check, against the row
/// (`ServerStorageTests.anInstanceMergesIntoTheDocumentsAsTheTableHasThem`).
@Suite struct PostgresDocumentCacheTests {
    let r1 = PostgresDocumentKey(collection: "items", id: "r1"), r2 = PostgresDocumentKey(collection: "items", id: "r2")

    func entry(_ seq: UInt64, bytes: Int = 10) -> PostgresDocumentCache.Entry {
        PostgresDocumentCache.Entry(state: DocumentState(), seq: seq, commitID: Int64(seq) * 7, bytes: bytes)
    }

    @Test func aLaterWriteOfADocumentReplacesItsEntryAndAnEarlierOneDoesNot() {
        var cache = PostgresDocumentCache(limit: 1_000)
        cache.committed([r1: entry(3), r2: entry(3)])
        cache.committed([r1: entry(5)])
        #expect(cache.entries[r1]?.seq == 5 && cache.entries[r2]?.seq == 3)
        cache.committed([r1: entry(4)])
        #expect(cache.entries[r1]?.seq == 5, "a commit whose answer came after a later one's")
    }

    @Test func pastItsLimitTheCacheStartsAgain() {
        var cache = PostgresDocumentCache(limit: 100)
        cache.committed([r1: entry(1, bytes: 60)])
        cache.committed([r1: entry(2, bytes: 70)])
        #expect(cache.bytes == 70, "a document written again counts once")
        cache.committed([r2: entry(3, bytes: 40)])
        #expect(cache.bytes == 0 && cache.entries.isEmpty, "110 bytes over 100: let go")
        var none = PostgresDocumentCache(limit: 0)
        none.committed([r1: entry(1)])
        #expect(none.entries.isEmpty, "a limit of 0 keeps nothing")
    }
}
