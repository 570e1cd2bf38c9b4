import SyncCore

/// The names under which the sync engine keeps its state in the store's `meta` and `cursors`
/// tables. Every reader (the engine, the CLI's status) goes through these, so they are written once.
package enum SyncStateKey {
    /// `meta`: the id of the server this node last completed a handshake or a pull with.
    package static let serverID = "server.id"

    /// `cursors`: how far this node has applied the server `server`'s sequence.
    package static func serverCursor(_ server: NodeID) -> String { "server:\(server.rawValue)" }

    /// `cursors`: the newest `updatedAt` (ms) pulled from a backend of the original protocol, per collection.
    package static func legacyCursor(collection: String) -> String { "legacy:\(collection)" }
}

/// Where this node stands with the last server it synced with.
package struct ServerPosition: Sendable, Hashable {
    /// The server's id; `nil` before the first handshake or pull.
    package var server: NodeID?
    /// Every server sequence up to this one is applied here (0 without a server).
    package var cursor: UInt64
}

extension LocalStore {
    /// The last server this node synced with and its cursor there.
    package func serverPosition() async throws -> ServerPosition {
        guard let server = try await meta(SyncStateKey.serverID).flatMap(NodeID.init) else {
            return ServerPosition(server: nil, cursor: 0)
        }
        return ServerPosition(server: server, cursor: try await cursor(SyncStateKey.serverCursor(server)))
    }

    /// Remembers `server` as the server this node syncs with (its cursor is kept per server).
    package func rememberServer(_ server: NodeID) async throws {
        try await setMeta(SyncStateKey.serverID, server.rawValue)
    }
}
