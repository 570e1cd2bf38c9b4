import NIOCore
import SyncCore

/// One committed change as the hub hands it to connections: encoded once for all of them.
struct HubChange: Sendable {
    let change: Change
    let serverSeq: UInt64
    let submitter: UInt64
    /// The complete server frame (``ServerFrame``), the same bytes for every subscriber.
    let frame: ByteBuffer
}
