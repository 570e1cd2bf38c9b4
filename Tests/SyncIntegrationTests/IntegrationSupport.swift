import SyncLayer
import SyncServer
import SyncTesting

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
