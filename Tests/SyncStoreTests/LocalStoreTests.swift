import SyncCore
import SyncStore
import SyncTesting
import Testing

@Suite struct LocalStoreTests {
    @Test func aWriteAndItsChangeAreStoredTogether() async throws {
        try await withStore { store, _ async throws in
            let change = try await store.put(collection: "items", id: "a", fields: ["x": 1])
            #expect(try await store.get(collection: "items", id: "a")?.data == ["x": 1])
            #expect(try await store.outbox() == [change])
            #expect(change.id == ChangeID(origin: store.nodeID, seq: 1))
            #expect(try await store.vector() == VersionVector([store.nodeID: 1]))
        }
    }

    @Test func reopeningKeepsTheNodeIDTheDataAndTheSequence() async throws {
        try await withTemporaryDirectory(prefix: "reopen") { directory in
            let path = directory.file("node.sqlite")
            let first = try await LocalStore.open(path: path, wallClock: ManualWallClock())
            let id = first.nodeID
            _ = try await first.put(collection: "items", id: "a", fields: ["x": 1])
            _ = try await first.put(collection: "items", id: "b", fields: ["x": 2])
            await first.close()
            let second = try await LocalStore.open(path: path, wallClock: ManualWallClock())
            #expect(second.nodeID == id)
            #expect(try await second.get(collection: "items", id: "b")?.data == ["x": 2])
            let next = try await second.put(collection: "items", id: "c", fields: [:])
            #expect(next.id.seq == 3)
            #expect(next.hlc > (try await second.outbox()).first!.hlc)
            await second.close()
        }
    }

    @Test func concurrentWritesAllCommitAndAFailingOneDoesNotSpoilItsBatch() async throws {
        try await withStore { store, _ async throws in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        if index % 50 == 0 {
                            // Fails: nothing to update. Its batch mates must still commit.
                            do { _ = try await store.update(collection: "items", id: "missing-\(index)", fields: ["x": 1]); return false }
                            catch let error as StoreError { return error.code == .notFound }
                        }
                        _ = try await store.put(collection: "items", id: "d\(index)", fields: ["i": .int(Int64(index))])
                        return true
                    }
                }
                for try await ok in group { #expect(ok) }
            }
            #expect(try await store.count(DocumentQuery(collection: "items")) == 196)
            let vector = try await store.vector()
            #expect(vector[store.nodeID] == 196, "sequences of failed writes are given back, so there is no gap")
            #expect(try await store.outboxCount() == 196)
        }
    }

    @Test func remoteChangesAreDedupedAndTheVectorFillsGaps() async throws {
        try await withStore { store, _ async throws in
            let two = remoteChange("peer", 2, at: 2_000, .update, ["w": 2])
            let one = remoteChange("peer", 1, at: 1_000, .insert, ["v": 1])
            let peer = NodeID("peer")!
            let first = try await store.applyRemote([ChangeInTransit(two, acknowledged: false)])
            #expect(first.outcomes == [.applied(visibleChange: true)])
            let gapped = try await store.vector()
            #expect(gapped[peer] == 0, "seq 1 is missing, so nothing is contiguous yet")
            let second = try await store.applyRemote([ChangeInTransit(one, acknowledged: false)])
            #expect(second.outcomes == [.applied(visibleChange: true)])
            let filled = try await store.vector()
            #expect(filled[peer] == 2)
            let again = try await store.applyRemote([ChangeInTransit(one, acknowledged: false)])
            #expect(again.outcomes == [.duplicate])
            let merged = try await store.get(collection: "items", id: "r")
            #expect(merged?.data == ["v": 1, "w": 2], "\(String(describing: merged))")
        }
    }

    /// The writer searches the log for changes held above an origin's mark only for origins it knows
    /// to have some; a store reopened with such a gap must still know it, and must forget it once filled.
    @Test func aGapLeftOpenAcrossAReopenIsFilledAndTheMarkMovesOnlyPastWhatIsHeld() async throws {
        try await withTemporaryDirectory(prefix: "gap-reopen") { directory in
            let path = directory.file("node.sqlite")
            let peer = NodeID("peer")!, other = NodeID("other")!
            let first = try await LocalStore.open(path: path, wallClock: ManualWallClock())
            _ = try await first.applyRemote([2, 3, 5].map { ChangeInTransit(remoteChange("peer", $0, at: 1_000 + $0, record: "p\($0)"), acknowledged: false) })
            _ = try await first.applyRemote([ChangeInTransit(remoteChange("other", 1, at: 900, record: "o1"), acknowledged: false)])
            #expect(try await first.vector()[peer] == 0)
            #expect(try await first.vector()[other] == 1)
            await first.close()
            let second = try await LocalStore.open(path: path, wallClock: ManualWallClock())
            _ = try await second.applyRemote([ChangeInTransit(remoteChange("peer", 1, at: 1_001, record: "p1"), acknowledged: false)])
            #expect(try await second.vector()[peer] == 3, "1 fills the gap, and the mark moves past 2 and 3, held since before the reopen")
            #expect(second.heldVector[peer] == 3)
            _ = try await second.applyRemote([ChangeInTransit(remoteChange("peer", 4, at: 1_004, record: "p4"), acknowledged: false)])
            #expect(try await second.vector()[peer] == 5, "4 fills the last gap, and the mark moves past 5")
            _ = try await second.applyRemote([ChangeInTransit(remoteChange("peer", 6, at: 1_006, record: "p6"), acknowledged: false),
                                              ChangeInTransit(remoteChange("other", 2, at: 901, record: "o2"), acknowledged: false)])
            #expect(try await second.vector()[peer] == 6)
            #expect(try await second.vector()[other] == 2)
            await second.close()
            let third = try await LocalStore.open(path: path, wallClock: ManualWallClock())
            #expect(try await third.vector()[peer] == 6, "the marks written once per transaction are the ones read back")
            #expect(third.heldVector[other] == 2)
            await third.close()
        }
    }

    @Test func outboxHoldsUnacknowledgedChangesOfAnyOriginUntilTheServerAcks() async throws {
        try await withStore { store, _ async throws in
            let own = try await store.put(collection: "items", id: "a", fields: [:])
            let relayed = remoteChange("peer", 1, at: 1_000)
            let fromServer = remoteChange("other", 1, at: 1_000, record: "s")
            _ = try await store.applyRemote([ChangeInTransit(relayed, acknowledged: false), ChangeInTransit(fromServer, acknowledged: true, serverSeq: 4)])
            #expect(Set(try await store.outbox()) == [own, relayed])
            try await store.acknowledge([own.id: 5])
            #expect(try await store.outbox() == [relayed])
            // The same relayed change now arrives from the server: it leaves the outbox.
            _ = try await store.applyRemote([ChangeInTransit(relayed, acknowledged: true, serverSeq: 6)])
            #expect(try await store.outboxCount() == 0)
        }
    }

    @Test func cursorMovesInTheSameTransactionAsTheData() async throws {
        try await withStore { store, _ async throws in
            _ = try await store.applyRemote([ChangeInTransit(remoteChange("o", 1, at: 1), acknowledged: true, serverSeq: 9)], cursor: ("server", 9))
            #expect(try await store.cursor("server") == 9)
            // A cursor never goes back.
            _ = try await store.applyRemote([], cursor: ("server", 3))
            #expect(try await store.cursor("server") == 9)
            // A batch that fails moves neither data nor cursor.
            let bad = Change(id: ChangeID(origin: NodeID("o")!, seq: 2), hlc: HLCTimestamp(wallMillis: 2), collection: "bad name!",
                             recordID: "r", kind: .insert, fields: [:])
            await #expect(throws: StoreError.self) {
                try await store.applyRemote([ChangeInTransit(bad, acknowledged: true)], cursor: ("server", 20))
            }
            #expect(try await store.cursor("server") == 9)
        }
    }

    @Test func changesMissingFromAVectorAreExactlyTheOnesTheOtherLacks() async throws {
        try await withStore { store, _ async throws in
            for seq in 1...5 { _ = try await store.applyRemote([ChangeInTransit(remoteChange("p", UInt64(seq), at: UInt64(seq), record: "r\(seq)"), acknowledged: false)]) }
            _ = try await store.put(collection: "items", id: "mine", fields: [:])
            let missing = try await store.changes(missingFrom: VersionVector([NodeID("p")!: 3]))
            #expect(missing.map(\.id.description).sorted() == ["\(store.nodeID):1", "p:4", "p:5"].sorted())
        }
    }

    @Test func aLocalEditWinsOverTheValueItReplacesEvenWhenThatValueCameFromAFastClock() async throws {
        let clock = ManualWallClock()
        try await withStore(wallClock: clock) { store, _ async throws in
            let anHourAhead = clock.nowMillis() + 3_600_000
            _ = try await store.applyRemote([ChangeInTransit(remoteChange("fast", 1, at: anHourAhead, .insert, ["v": "fast"]), acknowledged: true)])
            let edit = try await store.update(collection: "items", id: "r", fields: ["v": "edited"])
            #expect(try await store.get(collection: "items", id: "r")?.data["v"] == "edited")
            // The drift bound kept the node's own clock near real time; only this document's stamp moved.
            let other = try await store.put(collection: "items", id: "elsewhere", fields: [:])
            #expect(other.hlc.wallMillis < anHourAhead)
            #expect(edit.hlc.wallMillis >= anHourAhead)
        }
    }

    @Test func rejectsInvalidIdentifiersAndDocuments() async throws {
        try await withStore { store, _ async throws in
            await #expect { try await store.put(collection: "", id: "a", fields: [:]) } throws: { ($0 as? StoreError)?.code == .invalidIdentifier }
            await #expect { try await store.put(collection: "c", id: "", fields: [:]) } throws: { ($0 as? StoreError)?.code == .invalidIdentifier }
            await #expect { try await store.put(collection: "c", id: "a", fields: ["x": .double(.nan)]) } throws: { ($0 as? StoreError)?.code == .invalidDocument }
            var deep: JSONValue = 1
            for _ in 0..<40 { deep = [deep] }
            await #expect { try await store.put(collection: "c", id: "a", fields: ["x": deep]) } throws: { ($0 as? StoreError)?.code == .invalidDocument }
            let queued = try await store.outboxCount()
            #expect(queued == 0)
        }
    }

    @Test func theSameChangesInAnyOrderGiveTheSameDigest() async throws {
        var rng = SplitMix64(seed: testSeed(fallback: 42))
        for _ in 0..<15 {
            let changes = RandomChanges.generate(.init(origins: 3, records: 4, changes: 40), rng: &rng)
            var digests: Set<String> = []
            for _ in 0..<2 {
                let order = RandomChanges.shuffledWithDuplicates(changes, rng: &rng)
                let digest = try await withStore { store, _ async throws in
                    // Apply in several batches, as links would deliver them.
                    var remaining = order[...]
                    while !remaining.isEmpty {
                        let take = Int.random(in: 1...max(1, remaining.count), using: &rng)
                        _ = try await store.applyRemote(remaining.prefix(take).map { ChangeInTransit($0, acknowledged: false) })
                        remaining = remaining.dropFirst(take)
                    }
                    return try await store.digest(collection: "items").digest
                }
                digests.insert(digest)
            }
            #expect(digests.count == 1)
        }
    }
}
