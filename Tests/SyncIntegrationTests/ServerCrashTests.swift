import Foundation
import SyncLayer
import SyncTesting
import Testing
import SyncCore

/// The server is killed with SIGKILL while nodes keep writing, then restarted on the same port:
/// afterwards every acknowledged write is on the server and on every node, once.
@Suite(.timeLimit(.minutes(4))) struct ServerCrashTests {
    /// Starts `synclayer server` as a child process on `port` (0: one the system picks, so that no
    /// other test can take it between a pick and the bind), returning once it listens, with the port
    /// it listens on.
    static func startServer(database: String, port: Int = 0) async throws -> (child: ChildProcess, port: Int) {
        let child = try ChildProcess(executable: try synclayerExecutable(),
                                     arguments: ["server", "--data", database, "--port", String(port), "--log-level", "warning"])
        for await line in child.lines where line.hasPrefix("listening on") {
            guard let bound = line.split(separator: ":").last.flatMap({ Int($0) }) else { break }
            return (child, bound)
        }
        throw ChildProcessError(message: "the server did not start: \(child.standardError)")
    }

    /// The server's digest of a collection and its change count, over REST.
    static func serverDigest(port: Int) async throws -> (digest: String, changes: Int)? {
        let (status, json) = try await HTTPHelper.get("http://127.0.0.1:\(port)/sync/_digest?collection=todos")
        guard status == 200, let digest = json?["digest"]?.stringValue, let changes = json?["changes"]?.intValue else { return nil }
        return (digest, Int(changes))
    }

    @Test func serverKilledAndRestartedWhileNodesWrite() async throws {
        try await withTemporaryDirectory(prefix: "crash") { directory in
            let database = directory.file("server.sqlite")
            let first = try await Self.startServer(database: database)
            var server = first.child
            let port = first.port
            var started: [TestNode] = []
            for index in 0..<3 {
                started.append(try await TestNode.start(path: directory.file("node\(index).sqlite"), baseURL: "http://127.0.0.1:\(port)") {
                    $0.pingInterval = .milliseconds(500)
                    $0.syncInterval = .milliseconds(500)
                })
            }
            let nodes = started
            for node in nodes { await node.waitUntilConnected() }

            // Each node writes 120 documents, updates every third and deletes every tenth; the server
            // is killed after the first node's 40th write and restarted after its 80th.
            let killed = Locked(false), restarted = Locked(false)
            let serverBox = Locked<ChildProcess?>(server)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, node) in nodes.enumerated() {
                    group.addTask {
                        let todos = node.node.collection("todos")
                        for n in 0..<120 {
                            let id = "n\(index)-\(n)"
                            try await todos.save(["node": .int(Int64(index)), "n": .int(Int64(n))], id: id)
                            if n % 3 == 0 { try await todos.update(id, ["checked": true]) }
                            if n % 10 == 0 { try await todos.delete(id) }
                            if index == 0, n == 40 {
                                serverBox.withLock { $0 }?.send(SIGKILL)
                                killed.withLock { $0 = true }
                            }
                            if index == 0, n == 80 {
                                _ = await serverBox.withLock { $0 }?.waitForExit()
                                let (next, _) = try await Self.startServer(database: database, port: port)
                                serverBox.withLock { $0 = next }
                                restarted.withLock { $0 = true }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            server = serverBox.withLock { $0 }!
            #expect(killed.withLock { $0 } && restarted.withLock { $0 })

            // Every node's own changes: 120 saves + 40 updates + 12 deletes.
            let perNode = 120 + 40 + 12
            let converged = try await waitUntil(anyCommitIn: nodes.map { .node($0.node) }, timeout: .seconds(90)) {
                guard let remote = try await Self.serverDigest(port: port) else { return false }
                for node in nodes {
                    guard try await node.node.store.outboxCount() == 0,
                          try await node.node.collection("todos").digest().digest == remote.digest else { return false }
                }
                return remote.changes == 3 * perNode
            }
            if !converged {
                let remote = try await Self.serverDigest(port: port)
                print("DIAG server", remote.map { "\($0.digest.prefix(12)) \($0.changes)" } ?? "unreachable")
                for node in nodes {
                    let metrics = node.node.metrics()
                    print("DIAG node", node.node.nodeID.rawValue.prefix(6), node.node.linkState, "outbox", try await node.node.store.outboxCount(),
                          "digest", try await node.node.collection("todos").digest().digest.prefix(12), "count", try await node.node.collection("todos").count(),
                          "synced", metrics.operationsSynced, "received", metrics.changesReceived, "errors", metrics.errorCounts)
                    let server = try await node.node.store.meta("server.id") ?? "?"
                    print("DIAG   vector", try await node.node.store.vector().entries.map { "\($0.key.rawValue.prefix(6))=\($0.value)" }.sorted(),
                          "cursor", try await node.node.store.cursor("server:\(server)"), "server", server.prefix(6))
                }
            }
            #expect(converged, "every node and the server reach the same digest, the server holding each change once")
            // Every acknowledged write is there, with its last value.
            let all = try await nodes[2].node.collection("todos").getAll()
            #expect(all.count == 3 * 108)
            for index in 0..<3 {
                for n in 0..<120 where n % 10 != 0 {
                    let document = all.first { $0.id == "n\(index)-\(n)" }
                    #expect(document?["n"]?.intValue == Int64(n) && (document?["checked"] == (n % 3 == 0 ? true : nil)))
                }
            }
            for node in nodes { await node.stop() }
            server.send(SIGTERM)
            await server.waitForExit()
        }
    }
}
