import SyncLayer
import SyncTesting
import Testing
import SyncCore

@Suite struct CollectionTests {
    @Test func saveGetUpdateDelete() async throws {
        try await withNode { node async throws in
            let todos = node.collection("todos")
            let id = try await todos.save(["text": "Buy milk", "done": false])
            #expect(id.count == 36, "a new UUID when no id is given")
            let saved = try await todos.get(id)
            #expect(saved == Document(id: id, data: ["text": "Buy milk", "done": false]))
            try await todos.update(id, ["done": true])
            let updated = try await todos.get(id)
            #expect(updated?.data == ["text": "Buy milk", "done": true], "update sets only the given fields")
            try await todos.delete(id)
            let deleted = try await todos.get(id)
            #expect(deleted == nil)
        }
    }

    @Test func saveAfterDeleteBringsTheDocumentBack() async throws {
        try await withNode { node async throws in
            let notes = node.collection("notes")
            try await notes.save(["v": 1], id: "n1")
            try await notes.delete("n1")
            try await notes.save(["v": 2], id: "n1")
            let back = try await notes.get("n1")
            #expect(back?.data == ["v": 2])
            let all = try await notes.getAll()
            #expect(all.map(\.id) == ["n1"])
        }
    }

    @Test func updatingAMissingDocumentThrowsNotFound() async throws {
        try await withNode { node async throws in
            await #expect { try await node.collection("c").update("nope", ["x": 1]) } throws: { ($0 as? SyncError)?.code == .notFound }
        }
    }

    @Test func saveAllAndDeleteAll() async throws {
        try await withNode { node async throws in
            let items = node.collection("items")
            let ids = try await items.saveAll((0..<50).map { ["n": .int(Int64($0))] })
            #expect(Set(ids).count == 50)
            #expect(try await items.count() == 50)
            try await items.deleteAll(Array(ids.prefix(10)) + ["not-there"])
            #expect(try await items.count() == 40)
            try await items.deleteAll()
            #expect(try await items.count() == 0)
            #expect(try await node.store.outboxCount() == 100, "50 saves and 50 deletes, each one change")
        }
    }

    @Test func resultsCarryTheirIDs() async throws {
        try await withNode { node async throws in
            let items = node.collection("items")
            try await items.saveAll([Document(id: "b", data: ["x": 1]), Document(id: "a", data: ["x": 2])])
            let all = try await items.getAll()
            #expect(all.map(\.id) == ["a", "b"])
            #expect(all[0].dataWithID == ["id": "a", "x": 2])
        }
    }

    @Test func writesToACollectionThatIsNotConfiguredAreRefused() async throws {
        try await withNode(collections: ["todos"]) { node async throws in
            await #expect { try await node.collection("todso").save(["x": 1]) } throws: { ($0 as? SyncError)?.code == .collectionNotConfigured }
            try await node.collection("todos").save(["x": 1])
        }
    }

    @Test func eventsAndMetricsReportQueuedOperations() async throws {
        try await withNode { node async throws in
            let events = node.events()
            let todos = node.collection("todos")
            let id = try await todos.save(["x": 1])
            try await todos.update(id, ["x": 2])
            var iterator = events.makeAsyncIterator()
            let first = await iterator.next()
            let second = await iterator.next()
            #expect(first?.kind == .operationQueued && first?.recordID == id && first?.metadata["kind"] == "insert")
            #expect(second?.kind == .operationQueued && second?.metadata["kind"] == "update")
            #expect(node.metrics().operationsQueued == 2)
        }
    }

    @Test func typedCollectionsRoundTripCodableValues() async throws {
        struct Todo: Codable, Sendable, Equatable {
            var text: String
            var done: Bool
            var tags: [String]
        }
        try await withNode { node async throws in
            let todos = node.collection("todos", of: Todo.self)
            let id = try await todos.save(Todo(text: "Typed", done: false, tags: ["a"]))
            #expect(try await todos.get(id) == Todo(text: "Typed", done: false, tags: ["a"]))
            try await todos.update(id, ["done": true])
            let all = try await todos.getAll()
            #expect(all == [Identified(id: id, value: Todo(text: "Typed", done: true, tags: ["a"]))])
            // The same data is plain JSON underneath.
            #expect(try await node.collection("todos").get(id)?.data["tags"] == ["a"])
        }
    }
}
