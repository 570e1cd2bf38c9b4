import SyncCore
import SyncServer
import SyncStore
import SyncTesting
import Testing

@Suite struct ServerStorageTests {
    func change(_ origin: String, _ seq: UInt64, _ record: String = "r") -> Change {
        Change(id: ChangeID(origin: NodeID(origin)!, seq: seq), hlc: HLCTimestamp(wallMillis: 1_000 + seq), collection: "items",
               recordID: record, kind: .insert, fields: ["v": .int(Int64(seq))])
    }

    /// The hub decides what a catch-up covers by the head: when any observer hears of a commit, the
    /// head must already include it (observers run in registration order; the head's is first).
    @Test func theHeadIsCurrentWhenObserversHearOfACommit() async throws {
        try await withTemporaryDirectory(prefix: "server-store") { directory in
            let store = try await SQLiteServerStorage.open(path: directory.file("server.sqlite"))
            let stale = Locked(0)
            var tokens: [UInt64] = []
            for _ in 0..<32 {
                tokens.append(store.observeCommits { event in
                    if case .committed(let commit) = event, let last = commit.changes.last?.serverSeq, store.head < last {
                        stale.withLock { $0 += 1 }
                    }
                })
            }
            for seq in 1...50 { _ = try await store.commit([change("a", UInt64(seq), "r\(seq)")]) }
            #expect(stale.withLock { $0 } == 0)
            for token in tokens { store.removeObserver(token) }
            await store.close()
        }
    }

    @Test func eachChangeIsKeptOnceInServerOrder() async throws {
        try await withTemporaryDirectory(prefix: "server-store") { directory in
            let store = try await SQLiteServerStorage.open(path: directory.file("server.sqlite"))
            let first = try await store.commit([change("a", 1), change("b", 1)])
            let again = try await store.commit([change("a", 1)])
            #expect(first[ChangeID("a:1")!] == .committed(serverSeq: 1, duplicate: false))
            #expect(again[ChangeID("a:1")!] == .committed(serverSeq: 1, duplicate: true))
            #expect(try await store.changeCount() == 2)
            let future = Change(id: ChangeID("c:1")!, hlc: HLCTimestamp(wallMillis: SystemWallClock().nowMillis() + 2 * 86_400_000),
                                collection: "items", recordID: "x", kind: .insert, fields: [:])
            let refused = try await store.commit([future])
            guard case .rejected(let error)? = refused[future.id] else { Issue.record("a change stamped two days ahead was accepted"); return }
            #expect(error.code == .invalidMessage)
            let page = try await store.changes(after: 0, collections: ["items"], skipping: VersionVector([NodeID("a")!: 1]))
            #expect(page.changes.map(\.change.id.description) == ["b:1"] && page.cursor == 2 && !page.more)
            await store.close()
        }
    }
}
