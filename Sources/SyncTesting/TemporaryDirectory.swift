import Foundation

/// A fresh folder under the system's temporary directory, removed by ``remove()``.
///
/// Every test that touches files makes its own, so tests never share a database.
package struct TemporaryDirectory: Sendable {
    /// The folder's path.
    package let path: String

    /// Creates a new empty folder named `synclayer-<prefix>-<random>`.
    package init(prefix: String = "test") throws {
        let base = FileManager.default.temporaryDirectory.path
        let path = "\(base)/synclayer-\(prefix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        self.path = path
    }

    /// A path inside the folder.
    package func file(_ name: String) -> String {
        "\(path)/\(name)"
    }

    /// Deletes the folder and everything in it.
    package func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs `body` with a fresh temporary folder and removes it afterwards.
package func withTemporaryDirectory<T>(prefix: String = "test", _ body: (TemporaryDirectory) async throws -> T) async throws -> T {
    let directory = try TemporaryDirectory(prefix: prefix)
    defer { directory.remove() }
    return try await body(directory)
}
