import SyncCore
import SyncLayer
import SyncServer
import SyncTesting
import Testing

/// Several server instances on one PostgreSQL database (run under scripts/with-postgres; without a
/// cluster there is nothing to test).
@Suite(.timeLimit(.minutes(3))) struct ServerInstancesTests {
    @Test func nodesOnTwoInstancesConvergeWithEveryChangeHeldOnce() async throws {
        guard TestStoreKind.available.contains(.postgres) else { return }
        try await withTemporaryDirectory(prefix: "instances") { directory in
            try await TestPostgres.withDatabase { url in
                let a = try await TestServer.start(databasePath: url)
                let b = try await TestServer.start(databasePath: url)
                #expect(a.server.serverID == b.server.serverID, "one cluster id")
                var started: [TestNode] = []
                for (index, server) in [a, b, a, b].enumerated() {
                    started.append(try await TestNode.start(path: directory.file("n\(index).sqlite"), baseURL: server.baseURL))
                }
                let nodes = started
                for node in nodes { await node.waitUntilConnected() }
                // A change through instance A reaches a WebSocket subscriber of instance B, live.
                let todosOnB = nodes[1].node.collection("todos")
                try await nodes[0].node.collection("todos").save(["text": "through A"], id: "first")
                let arrived = try await waitUntil(nodes[1].node, timeout: .seconds(20)) { try await todosOnB.get("first") != nil }
                #expect(arrived, "a change committed through A reached a node of B")
                // Concurrent writers on every node.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, node) in nodes.enumerated() {
                        group.addTask {
                            for step in 0..<25 {
                                try await node.node.collection("todos").save(["n": .int(Int64(step)), "by": .int(Int64(index))], id: "n\(index)-\(step)")
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let store = try #require(a.server.store)
                let converged = try await waitUntil(anyCommitIn: nodes.map { .node($0.node) }, timeout: .seconds(60)) {
                    let expected = try await store.digest(collection: "todos")
                    for node in nodes {
                        guard try await node.node.store.outboxCount() == 0,
                              try await node.node.store.digest(collection: "todos") == expected else { return false }
                    }
                    return expected.count == 101
                }
                #expect(converged, "every node and both instances hold the same 101 documents")
                #expect(try await store.changeCount() == 101, "every change held once")
                let other = try #require(b.server.store)
                #expect(try await other.digest(collection: "todos") == store.digest(collection: "todos"))
                for node in nodes { await node.stop() }
                await a.stop()
                await b.stop()
            }
        }
    }

    /// A node whose instance stops moves to the other at once, keeps its cursor, and loses and
    /// duplicates nothing.
    @Test
    func aNodeMovesToTheOtherInstanceWhenItsOwnStops() async throws {
        guard TestStoreKind.available.contains(.postgres) else { return }
        try await withTemporaryDirectory(prefix: "failover") { directory in
            try await TestPostgres.withDatabase { url in
                let a = try await TestServer.start(databasePath: url)
                let b = try await TestServer.start(databasePath: url)
                let node = try await TestNode.start(path: directory.file("node.sqlite"), baseURL: a.baseURL) { configuration in
                    configuration.otherServerURLs = [b.baseURL]
                    configuration.websocketReconnectDelay = .seconds(5)
                }
                await node.waitUntilConnected()
                let todos = node.node.collection("todos")
                for step in 0..<5 { try await todos.save(["n": .int(Int64(step))], id: "before-\(step)") }
                let store = try #require(b.server.store)
                #expect(try await waitUntil(node.node, timeout: .seconds(20)) { try await node.node.store.outboxCount() == 0 })
                let lost = node.node.linkStates()
                await a.stop()
                let clock = ContinuousClock(), stopped = clock.now
                // Down, then up again: on B, without waiting the 5 s reconnection delay.
                var sawDown = false
                for await state in lost {
                    if state != .connected { sawDown = true }
                    if sawDown, state == .connected { break }
                }
                let moved = clock.now - stopped
                #expect(moved < .seconds(5), "moved at once, not after the reconnection delay (took \(moved))")
                for step in 0..<5 { try await todos.save(["n": .int(Int64(step))], id: "after-\(step)") }
                let settled = try await waitUntil(node.node, timeout: .seconds(20)) { try await node.node.store.outboxCount() == 0 }
                #expect(settled)
                #expect(try await store.changeCount() == 10, "every change held once")
                #expect(try await store.digest(collection: "todos") == node.node.store.digest(collection: "todos"))
                await node.stop()
                await b.stop()
            }
        }
    }
}
