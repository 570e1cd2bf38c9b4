import NIOCore
import SyncCore

/// One committed change as the hub hands it to connections: encoded once for all of them.
struct HubChange: Sendable {
    let change: Change
    let serverSeq: UInt64
    let submitter: UInt64
    /// The complete server frame (``ServerFrame``), the same bytes for every subscriber.
    let frame: ByteBuffer
    /// The frame nodes get: the same, except for the server's own changes (writes of the original
    /// protocol), which are stored unsigned and signed as they leave for a node, so that it can
    /// relay them over the mesh. Signed only when a node is among the subscribers.
    let nodeFrame: ByteBuffer
}
