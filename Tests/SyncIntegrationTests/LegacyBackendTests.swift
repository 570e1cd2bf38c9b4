@testable import SyncLayer
import SyncTesting
import Testing
import SyncCore

/// Our node against a backend that implements only the original documented protocol: it degrades
/// to timestamp-based last-writer-wins, and still syncs both ways, live and by polling.
@Suite(.timeLimit(.minutes(2))) struct LegacyBackendTests {
    /// A node of `backend` (database `name`.sqlite in `directory`) polling every `interval`,
    /// started; a realtime one also linked (the backend refuses hello with INVALID_MESSAGE, so it
    /// speaks the original protocol).
    /// The shape of the original SDK's sample servers: REST routes, `subscribed` confirmations, and
    /// `error INVALID_MESSAGE` for what it does not know (our `hello`).
    static let sampleServer = DocumentedBackend.Shape(confirmsSubscriptions: true, rest: true, refusesUnknownTypes: true)

    func node(_ name: String, of backend: DocumentedBackend, in directory: TemporaryDirectory, interval: Duration,
              realtime: Bool = true) async throws -> TestNode {
        let node = try await TestNode.start(path: directory.file("\(name).sqlite"), baseURL: "http://127.0.0.1:\(backend.port)",
                                            realtime: realtime) { $0.syncInterval = interval }
        if realtime { await node.waitUntilConnected() }
        return node
    }

    @Test func nodesSyncThroughABackendOfTheOriginalProtocol() async throws {
        try await withTemporaryDirectory(prefix: "legacy") { directory in
            let backend = try await DocumentedBackend.start(Self.sampleServer)
            let a = try await node("a", of: backend, in: directory, interval: .milliseconds(300))
            let b = try await node("b", of: backend, in: directory, interval: .milliseconds(300))

            // Live: a save on A reaches B's watch through the backend's broadcast.
            try await a.node.collection("todos").save(["text": "Milk", "done": false], id: "t1")
            let seen = try await firstMatch(b.node.collection("todos").watch()) { $0.contains { $0.id == "t1" } }
            #expect(seen?.first?.data == ["text": "Milk", "done": false])
            // An update on B carries only its field; A merges it.
            try await b.node.collection("todos").update("t1", ["done": true])
            let merged = try await firstMatch(a.node.collection("todos").watch()) { $0.first?["done"] == true }
            #expect(merged?.first?.data == ["text": "Milk", "done": true])
            // Deletes travel live too.
            try await a.node.collection("todos").save(["text": "Temporary"], id: "t2")
            _ = try await firstMatch(b.node.collection("todos").watch()) { $0.contains { $0.id == "t2" } }
            try await a.node.collection("todos").delete("t2")
            #expect(try await firstMatch(b.node.collection("todos").watch()) { !$0.contains { $0.id == "t2" } } != nil)

            // The outbox drains: the backend's pongs confirm what went over the WebSocket.
            let drained = try await waitUntil(anyCommitIn: [.node(a.node), .node(b.node)]) {
                let pendingA = try await a.node.store.outboxCount(), pendingB = try await b.node.store.outboxCount()
                return pendingA == 0 && pendingB == 0
            }
            #expect(drained)
            // A node that only polls gets the data by the original pull.
            let poller = try await node("c", of: backend, in: directory, interval: .milliseconds(200), realtime: false)
            let pulled = try await firstMatch(poller.node.collection("todos").watch()) { $0.contains { $0.id == "t1" } }
            #expect(pulled?.first { $0.id == "t1" }?.data == ["text": "Milk", "done": true])
            for node in [a, b, poller] { await node.stop() }
            await backend.stop()
        }
    }

    /// A REST push the backend fails (503) is retried on the poll interval although no other change
    /// comes to ask for a poll: the outbox drains.
    @Test func aFailedPushIsRetriedWithoutAnotherChange() async throws {
        try await withTemporaryDirectory(prefix: "legacy-retry") { directory in
            let backend = try await DocumentedBackend.start(Self.sampleServer)
            // Polling only: with a realtime link the WebSocket carries the write (and its pong confirms it).
            let a = try await node("a", of: backend, in: directory, interval: .milliseconds(200), realtime: false)
            let failures = a.node.events()
            // More failures than the polls the save itself asks for (it asks more than once).
            backend.failNextWrites(5)
            try await a.node.collection("todos").save(["text": "Milk"], id: "t1")
            for await event in failures where event.kind == .syncFailed { break }
            let drained = try await waitUntil(anyCommitIn: [.node(a.node)], timeout: .seconds(20)) {
                try await a.node.store.outboxCount() == 0
            }
            #expect(drained, "the failed push was retried")
            await a.stop()
            await backend.stop()
        }
    }

    /// A token revoked while the node is linked: the backend refuses the node's write with
    /// `AUTH_FAILED` and still answers its pings. The write stays in the outbox (the pong after it
    /// confirms nothing), each new session writes it again, and it is delivered once the backend
    /// takes the node's writes again.
    @Test func aWriteRefusedForItsTokenStaysInTheOutboxUntilTheBackendTakesIt() async throws {
        try await withTemporaryDirectory(prefix: "legacy-revoked") { directory in
            let backend = try await DocumentedBackend.start(DocumentedBackend.Shape(authToken: "t0ken"))
            let a = try await TestNode.start(path: directory.file("a.sqlite"), baseURL: "http://127.0.0.1:\(backend.port)") {
                $0.authToken = "t0ken"
                $0.websocketURL = backend.webSocketURL
            }
            await a.waitUntilConnected()
            try await a.node.collection("todos").save(["text": "before"], id: "t1")
            let confirmed = try await waitUntil(anyCommitIn: [.node(a.node)], timeout: .seconds(20)) { try await a.node.store.outboxCount() == 0 }
            #expect(confirmed, "a write the backend took is confirmed by its pong")

            backend.refuseWrites(true)
            let refusals = backend.refusals()
            try await a.node.collection("todos").save(["text": "after"], id: "t2")
            // Refused twice: the first session ended on the refusal, and the next wrote it again.
            let again = await waitForElement(in: refusals) { $0 >= 2 }
            #expect(again, "written again by a new session")
            #expect(try await a.node.store.outboxCount() == 1, "refused, so still pending")
            // The session's end reached the link as a refusal: its reconnection delay grows.
            #expect((a.node.link?.refusalsInARow ?? 0) >= 1)

            backend.refuseWrites(false)
            let delivered = try await waitUntil(anyCommitIn: [.node(a.node)], timeout: .seconds(20)) { try await a.node.store.outboxCount() == 0 }
            #expect(delivered)
            #expect(backend.state.withLock { $0.records["todos"]?["t2"]?.data } == ["text": "after"])
            await a.stop()
            await backend.stop()
        }
    }

    /// A broadcast the node never received (the original protocol has no catch-up on its WebSocket)
    /// reaches it by the pull it makes on the poll interval while linked.
    @Test func aMissedBroadcastArrivesByPull() async throws {
        try await withTemporaryDirectory(prefix: "legacy-missed") { directory in
            let backend = try await DocumentedBackend.start(Self.sampleServer)
            let a = try await node("a", of: backend, in: directory, interval: .milliseconds(200))
            let b = try await node("b", of: backend, in: directory, interval: .milliseconds(200))
            backend.silenceNextBroadcasts(1)
            try await a.node.collection("todos").save(["text": "not broadcast"], id: "quiet")
            let seen = try await firstMatch(b.node.collection("todos").watch()) { $0.contains { $0.id == "quiet" } }
            #expect(seen?.first { $0.id == "quiet" }?.data == ["text": "not broadcast"])
            await a.stop()
            await b.stop()
            await backend.stop()
        }
    }
}
