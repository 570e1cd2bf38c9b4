import SyncLayer
import SyncTesting
import Testing
import SyncCore
import SyncStore

@Suite struct WatchTests {
    @Test func emitsTheCurrentResultFirstThenEveryChange() async throws {
        try await withNode { node async throws in
            let todos = node.collection("todos")
            try await todos.save(["text": "first"], id: "1")
            var updates = todos.where("done", isNotEqualTo: true).orderBy("text").watch().makeAsyncIterator()
            let initial = try await updates.next()
            #expect(initial?.map(\.id) == ["1"])
            try await todos.save(["text": "second"], id: "2")
            let afterSave = try await updates.next()
            #expect(afterSave?.map(\.id) == ["1", "2"])
            try await todos.update("1", ["done": true])
            let afterUpdate = try await updates.next()
            #expect(afterUpdate?.map(\.id) == ["2"])
        }
    }

    @Test func firesOnRemoteChangesAndIgnoresOtherCollections() async throws {
        try await withNode { node async throws in
            var updates = node.collection("todos").watch().makeAsyncIterator()
            let initial = try await updates.next()
            #expect(initial == [])
            try await node.collection("other").save(["x": 1])
            let remote = Change(id: ChangeID(origin: NodeID("peer")!, seq: 1), hlc: HLCTimestamp(wallMillis: 1), collection: "todos",
                                recordID: "r", kind: .insert, fields: ["from": "peer"])
            _ = try await node.store.applyRemote([ChangeInTransit(remote, acknowledged: true)])
            let next = try await updates.next()
            #expect(next == [Document(id: "r", data: ["from": "peer"])])
        }
    }

    @Test func endsWhenTheNodeCloses() async throws {
        let directory = try TemporaryDirectory(prefix: "watch")
        defer { directory.remove() }
        let node = try await SyncNode.open(SyncConfiguration(databasePath: directory.file("n.sqlite")))
        var updates = node.collection("todos").watch().makeAsyncIterator()
        _ = try await updates.next()
        await node.close()
        let after = try await updates.next()
        #expect(after == nil)
    }
}
