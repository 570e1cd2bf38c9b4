import SyncLayer
import SyncServer
import SyncTesting
import SyncCore

/// A server and `count` nodes in a temporary folder; stops everything afterwards.
func withCluster<T>(nodes count: Int, realtime: [Bool]? = nil, configure: @escaping (Int, inout SyncConfiguration) -> Void = { _, _ in },
                    _ body: (TestServer, [TestNode], TemporaryDirectory) async throws -> T) async throws -> T {
    try await withTemporaryDirectory(prefix: "cluster") { directory in
        let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
        var nodes: [TestNode] = []
        do {
            for index in 0..<count {
                nodes.append(try await TestNode.start(path: directory.file("node\(index).sqlite"), baseURL: server.baseURL,
                                                      realtime: realtime?[index] ?? true) { configure(index, &$0) })
            }
            let result = try await body(server, nodes, directory)
            for node in nodes { await node.stop() }
            await server.stop()
            return result
        } catch {
            for node in nodes { await node.stop() }
            await server.stop()
            throw error
        }
    }
}

/// The first emission of `watch` that satisfies `condition`.
func firstMatch(_ watch: QueryWatch, _ condition: ([Document]) -> Bool) async throws -> [Document]? {
    for try await documents in watch where condition(documents) { return documents }
    return nil
}

/// Waits until every node's outbox is empty, each node's digest of `collection` equals the server's,
/// and `also` holds, checking again after each commit on the server or any node (the last step may
/// be an upload, a delivery or an ack). Returns `false` when `timeout` passes first.
func converged(_ server: TestServer, _ nodes: [SyncNode], collection: String = "todos", timeout: Duration = .seconds(60),
               also: @escaping @Sendable () async throws -> Bool = { true }) async throws -> Bool {
    try await waitUntil(anyCommitIn: [.server(server.store)] + nodes.map { .node($0) }, timeout: timeout) {
        let expected = try await server.store.digest(collection: collection)
        for node in nodes {
            guard try await node.store.outboxCount() == 0, try await node.store.digest(collection: collection) == expected else { return false }
        }
        return try await also()
    }
}
