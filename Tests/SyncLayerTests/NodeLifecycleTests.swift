import AsyncHTTPClient
@testable import SyncLayer
import SyncTesting
import Testing

@Suite struct NodeLifecycleTests {
    /// An app that drops its node without `close()` keeps running: the node's HTTP client is shut
    /// down by the node's deinit (a client left up stops a debug build in its own deinit), and
    /// what was written is in the file.
    @Test func aNodeReleasedWithoutCloseShutsItsHTTPClientDownAndKeepsItsWrites() async throws {
        try await withTemporaryDirectory(prefix: "released") { directory in
            let configuration = SyncConfiguration(databasePath: directory.file("node.sqlite"), collections: ["todos"])
            var node: SyncNode? = try await SyncNode.open(configuration)
            try await node?.collection("todos").save(["text": "kept"], id: "a")
            let client = try #require(node?.httpClient)
            weak let released = node
            node = nil
            #expect(released == nil, "nothing else holds the node")
            // Shutting down or shut down by the node: a second shutdown is refused.
            await #expect(throws: HTTPClientError.alreadyShutdown) { try await client.shutdown() }
            let again = try await SyncNode.open(configuration)
            #expect(try await again.collection("todos").get("a")?.data == ["text": "kept"])
            await again.close()
        }
    }
}
