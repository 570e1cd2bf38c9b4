import SyncLayer
import SyncTesting
import SyncCore

/// Opens a node in a fresh temporary folder, runs `body`, then closes and removes it.
@discardableResult
func withNode<T>(collections: [String] = [], _ body: (SyncNode) async throws -> T) async throws -> T {
    try await withTemporaryDirectory(prefix: "node") { directory in
        try await SyncNode.with(SyncConfiguration(databasePath: directory.file("node.sqlite"), collections: collections), body)
    }
}
