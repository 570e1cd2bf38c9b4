import SyncLayer
import SyncCore
import SyncTesting
import Testing

/// Two of our nodes against a backend written from the original documents (``DocumentedBackend``),
/// in each documented shape: they tell it apart within about a second, write over its WebSocket
/// (and its REST routes when it has them), and converge.
@Suite(.timeLimit(.minutes(2))) struct OriginalBackendShapeTests {
    enum Named: String, CaseIterable, Sendable {
        case webSocketWithPong, webSocketBroadcastsOnly, webSocketAndREST, authFirst, closesWithoutPing, webSocketOnAnotherHost
    }

    static func shape(_ named: Named) -> DocumentedBackend.Shape {
        var shape = DocumentedBackend.Shape()
        switch named {
        case .webSocketWithPong, .webSocketOnAnotherHost: break
        case .webSocketBroadcastsOnly: shape.answersPing = false
        case .webSocketAndREST:
            shape.rest = true
            shape.confirmsSubscriptions = true
        case .authFirst: shape.authToken = "team-token"
        case .closesWithoutPing: shape.closeWithoutPingAfter = .milliseconds(2_500)
        }
        return shape
    }

    /// A node of `backend`: WebSocket at the backend, REST there too only when it has it (on another
    /// host, a port where nothing listens).
    func node(_ name: String, _ named: Named, _ backend: DocumentedBackend, in directory: TemporaryDirectory) async throws -> TestNode {
        let baseURL: String? = switch named {
        case .webSocketAndREST: "http://127.0.0.1:\(backend.port)"
        case .webSocketOnAnotherHost: "http://127.0.0.1:1"
        default: nil
        }
        return try await TestNode.start(path: directory.file("\(name).sqlite"), baseURL: baseURL) { configuration in
            configuration.websocketURL = backend.webSocketURL
            configuration.enableRealtimeSync = true
            // Short for the test; a backend without pong confirms writes after 2.5 WebSocket ping
            // periods (at least 3 s each).
            configuration.pingInterval = .seconds(1)
            configuration.syncInterval = .milliseconds(500)
            configuration.authToken = backend.shape.authToken
        }
    }

    /// Polls `condition` every 50 ms for at most `timeout`; for state outside any store.
    func eventually(_ timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
        let clock = ContinuousClock(), deadline = clock.now + timeout
        while clock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    @Test(arguments: Named.allCases)
    func twoNodesConvergeThroughTheBackend(_ named: Named) async throws {
        try await withTemporaryDirectory(prefix: "shape-\(named.rawValue)") { directory in
            let backend = try await DocumentedBackend.start(Self.shape(named))
            let a = try await node("a", named, backend, in: directory)
            let b = try await node("b", named, backend, in: directory)
            // Connected as soon as the backend's first answer tells (a few seconds at most for one
            // that answers nothing): the backend has no catch-up, so both must be subscribed first.
            await a.waitUntilConnected()
            await b.waitUntilConnected()
            #expect(a.node.backendStatus.protocol == "original" && b.node.backendStatus.protocol == "original")

            let todosA = a.node.collection("todos"), todosB = b.node.collection("todos")
            try await todosA.save(["text": "Milk", "done": false], id: "t1")
            try await todosB.save(["text": "Bread"], id: "t2")
            let crossed = try await waitUntil(anyCommitIn: [.node(a.node), .node(b.node)], timeout: .seconds(20)) {
                let atB = try await todosB.get("t1"), atA = try await todosA.get("t2")
                return atB != nil && atA != nil
            }
            #expect(crossed, "each node's save reached the other through the backend's broadcast")
            try await todosB.update("t1", ["done": true])
            try await todosA.delete("t2")
            let converged = try await waitUntil(anyCommitIn: [.node(a.node), .node(b.node)], timeout: .seconds(40)) {
                let outboxA = try await a.node.store.outboxCount(), outboxB = try await b.node.store.outboxCount()
                let digestA = try await todosA.digest(), digestB = try await todosB.digest()
                return outboxA == 0 && outboxB == 0 && digestA == digestB && digestA.count == 1
            }
            #expect(converged, "digests equal, one document each, and both outboxes empty")
            #expect(try await todosA.get("t1")?.data == ["text": "Milk", "done": true])
            // The update went out with the changed field only, and the backend holds the merge.
            let writes = backend.state.withLock { $0.writes }
            let update = writes.first { $0["type"]?.stringValue == "update" && $0["recordId"]?.stringValue == "t1" }
            #expect(update?["data"] == ["done": true])
            #expect(backend.state.withLock { $0.records["todos"]?["t1"]?.data } == ["text": "Milk", "done": true])
            #expect(backend.state.withLock { $0.records["todos"]?["t2"] } == nil)

            switch named {
            case .webSocketAndREST:
                #expect(a.node.backendStatus.rest == true)
            case .webSocketOnAnotherHost:
                // REST refused on its host: the node says it syncs over the WebSocket alone.
                #expect(try await eventually { a.node.backendStatus.rest == false })
            case .closesWithoutPing:
                // The node's pings keep the connection open well past the backend's limit.
                #expect(try await eventually(.seconds(20)) { backend.state.withLock { $0.pingsReceived } >= 6 })
                #expect(backend.state.withLock { $0.connectionsClosedForSilence } == 0)
                #expect(backend.state.withLock { $0.connectionsOpened } == 2)
            case .authFirst:
                #expect(a.node.backendStatus.protocol == "original")
            case .webSocketWithPong, .webSocketBroadcastsOnly:
                #expect(a.node.backendStatus.rest == false, "no REST configured: WebSocket only")
            }
            for node in [a, b] { await node.stop() }
            await backend.stop()
        }
    }
}
