import SyncCore
import Testing

@testable import SyncServer

/// What an instance holds of the documents its commits wrote, and when it lets them go
/// (`PostgresDocumentCache`); the store's own test is `ServerStorageTests.anInstanceMergesIntoTheDocumentsAsTheTableHasThem`.
@Suite struct PostgresDocumentCacheTests {
    let r1 = PostgresDocumentKey(collection: "items", id: "r1"), r2 = PostgresDocumentKey(collection: "items", id: "r2")

    func entry(_ bytes: Int) -> PostgresDocumentCache.Entry {
        PostgresDocumentCache.Entry(state: DocumentState(), bytes: bytes)
    }

    func version(_ seq: UInt64, _ id: Int64) -> PostgresHeadVersion {
        PostgresHeadVersion(seq: seq, commitID: id)
    }

    @Test func entriesAreTrueOnlyAtTheVersionTheLastCommitLeft() {
        var cache = PostgresDocumentCache(limit: 1_000)
        #expect(cache.entries(at: version(0, 0)).isEmpty, "nothing held at first")
        cache.committed(from: version(0, 0), to: version(3, 7), [r1: entry(10)])
        cache.committed(from: version(3, 7), to: version(5, 8), [r2: entry(20)])
        #expect(Set(cache.entries(at: version(5, 8)).keys) == [r1, r2], "one commit after the other: both held")
        #expect(cache.entries(at: version(5, 9)).isEmpty, "the same number under another commit (a restored database)")
        #expect(cache.entries(at: version(5, 8)).isEmpty, "and let go")
    }

    @Test func aCommitThatDidNotFollowTheCachedVersionReplacesIt() {
        var cache = PostgresDocumentCache(limit: 1_000)
        cache.committed(from: version(0, 0), to: version(2, 1), [r1: entry(10)])
        // Another instance committed 3; this one then 4.
        cache.committed(from: version(3, 5), to: version(4, 6), [r2: entry(10)])
        #expect(Set(cache.entries(at: version(4, 6)).keys) == [r2], "only what the last commit wrote")
        // A commit whose answer came after a later one's: dropped.
        cache.committed(from: version(1, 9), to: version(2, 9), [r1: entry(10)])
        #expect(Set(cache.entries(at: version(4, 6)).keys) == [r2])
    }

    @Test func pastItsLimitTheCacheStartsAgain() {
        var cache = PostgresDocumentCache(limit: 100)
        cache.committed(from: version(0, 0), to: version(1, 1), [r1: entry(60)])
        cache.committed(from: version(1, 1), to: version(2, 2), [r1: entry(70)])
        #expect(cache.bytes == 70, "a document written again counts once")
        cache.committed(from: version(2, 2), to: version(3, 3), [r2: entry(40)])
        #expect(cache.bytes == 0 && cache.entries.isEmpty, "110 bytes over 100: let go")
        #expect(cache.version == version(3, 3), "empty is true at the version")
    }
}
