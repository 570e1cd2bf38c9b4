import SyncCore
import SyncStore
import SyncTesting
import Testing

/// What the console shows of the outbox: how many changes wait, and the clock of the oldest.
@Suite struct OutboxSummaryTests {
    @Test func theSummaryCountsEveryOriginAndNamesTheOldestChangeUntilAcknowledged() async throws {
        try await withStore { store, _ async throws in
            #expect(try await store.outboxSummary() == OutboxSummary(count: 0, oldest: nil))
            let own = try await store.put(collection: "items", id: "a", fields: [:])
            let relayed = remoteChange("peer", 1, at: 500)
            let held = remoteChange("other", 1, at: 100, record: "s")
            _ = try await store.applyRemote([ChangeInTransit(relayed, acknowledged: false), ChangeInTransit(held, acknowledged: true, serverSeq: 3)])
            // The server's own (acknowledged) change is older, but it is not waiting.
            #expect(try await store.outboxSummary() == OutboxSummary(count: 2, oldest: min(own.hlc, relayed.hlc)))
            #expect(try await store.outboxSummary().count == store.outboxCount())
            try await store.acknowledge([relayed.id: 4])
            #expect(try await store.outboxSummary() == OutboxSummary(count: 1, oldest: own.hlc))
            try await store.acknowledge([own.id: 5])
            #expect(try await store.outboxSummary() == OutboxSummary(count: 0, oldest: nil))
        }
    }
}
