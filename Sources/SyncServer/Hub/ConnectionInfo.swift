import SyncCore
import SyncStore
import Synchronization

/// Who is at the other end of a connection: what the server console lists (never `/metrics`,
/// which holds aggregates only).
final class ConnectionInfo: Sendable {
    /// The client's address as the socket sees it.
    let address: String
    /// When the connection opened, milliseconds since the epoch.
    let openedAt: UInt64
    private let nodeID = Mutex<String?>(nil)

    init(address: String, openedAt: UInt64 = SystemWallClock().nowMillis()) {
        self.address = address
        self.openedAt = openedAt
    }

    /// The node said `hello` with its id.
    func identify(_ node: NodeID) {
        nodeID.withLock { $0 = node.rawValue }
    }

    /// The node's id, or `nil` for a client of the original protocol (or before its `hello`).
    var node: String? { nodeID.withLock { $0 } }
}

/// One connection as the server console shows it.
struct ConnectionView: Sendable {
    var id: UInt64
    var node: String?
    var address: String
    var openedAt: UInt64
    var collections: [String]
    /// The last server sequence delivered (queued) to it; the console shows the head minus this.
    var through: UInt64
    var catchingUp: Bool

    var json: JSONValue {
        [
            "id": .int(Int64(id)), "nodeId": node.map { .string($0) } ?? .null, "address": .string(address),
            "since": .int(Int64(clamping: openedAt)), "collections": .array(collections.map { .string($0) }),
            "through": .int(Int64(clamping: through)), "catchingUp": .bool(catchingUp),
        ]
    }
}
