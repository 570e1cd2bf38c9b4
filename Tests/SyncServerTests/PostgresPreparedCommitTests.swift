import SyncCore
import SyncServer
import SyncTesting
import Testing

/// A PostgreSQL instance prepares its next group transaction while the one before writes and
/// commits (`PostgresWriter.runGroup(after:)`), and uses that preparation only when the table is,
/// once it holds the head's lock, what the preparation assumed.
///
/// Each test lines two transactions up the same way, with stores whose group commits take at most
/// 20 changes: the head's lock is held here, a request of 20 changes (a whole group) and then one
/// of a few wait for it, and the lock is let go. The first transaction takes the 20; the second is
/// started while the first writes, takes the other request, and prepares it on what the first leaves.
@Suite struct PostgresPreparedCommitTests {
    static let size = 20

    func open(_ url: String) async throws -> PostgresServerStorage {
        try await PostgresServerStorage.open(url: url, groupLimit: Self.size)
    }

    func set(_ origin: String, _ seq: UInt64, _ field: String, _ record: String) -> Change {
        Change(id: ChangeID(origin: NodeID(origin)!, seq: seq), hlc: HLCTimestamp(wallMillis: 1_000 + seq), collection: "items",
               recordID: record, kind: .update, fields: [field: .int(Int64(seq))])
    }

    /// `size` changes of `origin`: its first sets `field` of record `r`, the others each write a record of their own.
    func group(_ origin: String, _ field: String, poisoned: Bool = false) -> [Change] {
        (1...UInt64(Self.size)).map { seq in
            seq == 1 ? set(origin, seq, field, "r") : set(origin, seq, "v", poisoned && seq == 2 ? "poison" : "\(origin)\(seq)")
        }
    }

    func fields(_ store: any ServerStorage) async throws -> [String] {
        try await store.get(collection: "items", id: "r")?.data.keys.sorted() ?? []
    }

    typealias Outcome = Result<[ChangeID: CommitOutcome], any Error>

    /// Commits `first` then `second` through `store` as two group transactions, the second
    /// prepared while the first writes: their results, in that order. `started` is given the
    /// first's commit as soon as it is under way.
    func lineUp(_ store: PostgresServerStorage, url: String, _ first: [Change], _ second: [Change],
                started: (Task<Outcome, Never>) -> Void = { _ in }) async throws -> (Outcome, Outcome) {
        try await TestPostgres.withConnection(url) { connection, logger in
            try await connection.query("BEGIN", logger: logger)
            try await connection.query("SELECT seq FROM synclayer_head FOR UPDATE", logger: logger)
            func commit(_ changes: [Change], _ submitter: UInt64) -> Task<Outcome, Never> {
                Task {
                    do { return .success(try await store.commit(changes, submitter: submitter)) } catch { return .failure(error) }
                }
            }
            let one = commit(first, 1)
            started(one)
            try await store.waitUntilWaiting(first.count)
            let two = commit(second, 2)
            try await store.waitUntilWaiting(first.count + second.count)
            try await connection.query("COMMIT", logger: logger)
            return (await one.value, await two.value)
        }
    }

    /// Two instances on one new database, for `body`; closed after it.
    func withTwoInstances(_ body: (String, PostgresServerStorage, PostgresServerStorage) async throws -> Void) async throws {
        try await TestPostgres.withDatabase { url in
            let store = try await open(url), other = try await open(url)
            do {
                try await body(url, store, other)
            } catch {
                await other.close()
                await store.close()
                throw error
            }
            await other.close()
            await store.close()
        }
    }

    func serverSeq(_ result: Outcome, _ id: ChangeID) throws -> UInt64? {
        if case .committed(let serverSeq, false)? = try result.get()[id] { return serverSeq }
        return nil
    }

    /// The first transaction's write waits for a row lock held here until the second has
    /// prepared, so the second cannot find the first's writes in the table: only in what the first
    /// leaves (documents, ids, watermarks).
    @Test func theNextTransactionIsPreparedWhileOneWritesAndCommitsAsPrepared() async throws {
        guard TestStoreKind.available.contains(.postgres) else { return }
        try await TestPostgres.withDatabase { url in
            let store = try await open(url)
            _ = try await store.commit([set("zzzz", 1, "z", "r")])
            let first = group("aaaa", "p")
            // A change of its own, one the first holds (sent again), and the first's origin's next.
            let second = set("bbbb", 1, "s", "r"), again = first[5], next = set("aaaa", UInt64(Self.size + 1), "v", "next")
            let (one, two) = try await TestPostgres.withConnection(url) { row, logger in
                try await row.query("BEGIN", logger: logger)
                try await row.query("SELECT * FROM documents WHERE id = 'r' FOR UPDATE", logger: logger)
                await store.beforePreparedLock { _ = try? await row.query("COMMIT", logger: logger) }
                return try await lineUp(store, url: url, first, [second, again, next])
            }
            #expect(try one.get().count == Self.size)
            #expect(try serverSeq(two, second.id) == UInt64(Self.size + 2), "numbered after the first group")
            #expect(try two.get()[again.id] == .committed(serverSeq: 7, duplicate: true), "held by the first: a duplicate of it")
            #expect(store.preparedAhead == (committed: 1, dropped: 0), "the second was prepared before it held the lock")
            #expect(try await fields(store) == ["p", "s", "z"], "merged into what the first wrote")
            #expect(try await store.changeCount() == Self.size + 3 && store.head == UInt64(Self.size + 3))
            #expect(try await store.vector()[NodeID("aaaa")!] == UInt64(Self.size + 1), "the origin's watermark moved on from the first's")
            #expect(store.documentsRead == 0, "documents from memory: r from the first's preparation, the others new")
            // What `/metrics` shows of it.
            let prepared = store.counters.filter { $0.name == "synclayer_store_prepared_transactions_total" }
            #expect(prepared.map { [$0.labels["outcome"] ?? "", String($0.total)] } == [["committed", "1"], ["dropped", "0"]])
            #expect(store.counters.first { $0.name == "synclayer_store_documents_read_total" }?.total == 0)
            await store.close()
        }
    }

    @Test func aPreparationIsDroppedWhenAnotherInstanceCommitsBeforeItHoldsTheLock() async throws {
        guard TestStoreKind.available.contains(.postgres) else { return }
        try await withTwoInstances { url, store, other in
            let between = set("cccc", 1, "b", "r")
            let committed = Locked<Outcome?>(nil)
            // The other instance's commit waits for the first transaction's lock, and commits before
            // the prepared one asks for it.
            await store.beforePreparedLock {
                do {
                    let outcomes = try await other.commit([between], submitter: 9)
                    committed.withLock { $0 = .success(outcomes) }
                } catch {
                    committed.withLock { $0 = .failure(error) }
                }
            }
            let second = set("bbbb", 1, "s", "r")
            let (one, two) = try await lineUp(store, url: url, group("aaaa", "p"), [second])
            #expect(try one.get().count == Self.size)
            let otherResult = try #require(committed.withLock { $0 })
            #expect(try serverSeq(otherResult, between.id) == UInt64(Self.size + 1))
            #expect(try serverSeq(two, second.id) == UInt64(Self.size + 2), "numbered after the other instance's commit")
            #expect(store.preparedAhead == (committed: 0, dropped: 1))
            #expect(try await fields(store) == ["b", "p", "s"], "merged into what the other instance wrote, not over it")
            #expect(try await store.changeCount() == Self.size + 2)
        }
    }

    /// While other instances commit between an instance's transactions, a preparation would be
    /// dropped: none is made, and the second transaction reads and merges under the lock.
    @Test func noTransactionIsPreparedAheadWhileOthersCommitBetween() async throws {
        guard TestStoreKind.available.contains(.postgres) else { return }
        try await withTwoInstances { url, store, other in
            _ = try await store.commit([set("zzzz", 1, "z", "r")])
            _ = try await other.commit([set("cccc", 1, "b", "r")])
            let second = set("bbbb", 1, "s", "r")
            let (one, two) = try await lineUp(store, url: url, group("aaaa", "p"), [second])
            #expect(try one.get().count == Self.size)
            #expect(try serverSeq(two, second.id) == UInt64(Self.size + 3))
            #expect(store.preparedAhead == (committed: 0, dropped: 0), "another instance committed between this one's last two")
            #expect(try await fields(store) == ["b", "p", "s", "z"])
        }
    }

    /// The first transaction fails (the database refuses one of its changes) and another instance
    /// commits as many changes meanwhile: the head is where the first would have left it, and still
    /// the preparation on it must not be used.
    @Test func aPreparationOnATransactionThatDidNotCommitIsDropped() async throws {
        guard TestStoreKind.available.contains(.postgres) else { return }
        try await withTwoInstances { url, store, other in
            try await TestPostgres.withConnection(url) { try await TestPostgres.refusePoison(on: $0, logger: $1) }
            let firstCommit = Locked<Task<Outcome, Never>?>(nil)
            let otherCommitted = Locked(0)
            // Once the first has failed, the other instance commits as many changes as it had.
            await store.beforePreparedLock {
                _ = await firstCommit.withLock { $0 }?.value
                if let outcomes = try? await other.commit(group("cccc", "b"), submitter: 9) {
                    otherCommitted.withLock { $0 = outcomes.count }
                }
            }
            let first = group("aaaa", "p", poisoned: true), second = set("bbbb", 1, "s", "r")
            let (one, two) = try await lineUp(store, url: url, first, [second]) { one in firstCommit.withLock { $0 = one } }
            #expect(throws: (any Error).self, "the first group is refused") { try one.get() }
            #expect(otherCommitted.withLock { $0 } == Self.size)
            #expect(try serverSeq(two, second.id) == UInt64(Self.size + 1), "numbered after the other instance's commit")
            #expect(store.preparedAhead == (committed: 0, dropped: 1), "the head was where the first would have left it")
            #expect(try await fields(store) == ["b", "s"], "nothing of the group that did not commit")
            #expect(try await store.changeCount() == Self.size + 1)
        }
    }
}
