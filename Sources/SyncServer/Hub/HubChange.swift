import NIOCore
import SyncCore
import Synchronization

/// One committed change as the hub hands it to connections: encoded at most once for all of them,
/// and only if one of them is sent it (a commit nobody subscribed to is not encoded at all). A
/// class: every connection reads it, and a copy of a reference costs one retain where a copy of
/// the change's fields cost one each.
final class HubChange: Sendable {
    let change: Change
    let serverSeq: UInt64
    let submitter: UInt64
    /// A write of the original protocol, stamped by the server as its own change: its sender gets
    /// no `ack` (the original protocol has none; its servers send the sender nothing).
    let isStampedWrite: Bool
    private let encode: @Sendable (Bool) -> ByteBuffer?
    private let encoded = Mutex<(plain: ByteBuffer?, node: ByteBuffer?)>((nil, nil))

    /// A change whose frames are encoded when first asked for: `encode(false)` gives the complete
    /// server frame (``ServerFrame``), `encode(true)` the one for nodes, or `nil` when nodes get
    /// the same.
    init(change: Change, serverSeq: UInt64, submitter: UInt64, isStampedWrite: Bool = false,
         encode: @escaping @Sendable (_ forNode: Bool) -> ByteBuffer?) {
        self.change = change
        self.serverSeq = serverSeq
        self.submitter = submitter
        self.isStampedWrite = isStampedWrite
        self.encode = encode
    }

    /// A change with its frames already encoded.
    convenience init(change: Change, serverSeq: UInt64, submitter: UInt64, frame: ByteBuffer, nodeFrame: ByteBuffer) {
        self.init(change: change, serverSeq: serverSeq, submitter: submitter) { $0 ? nodeFrame : frame }
    }

    /// The complete server frame, the same bytes for every subscriber.
    var frame: ByteBuffer { frame(forNode: false) }
    /// The frame nodes get: the same, except for the server's own changes (writes of the original
    /// protocol), which are stored unsigned and signed as they leave for a node, so that it can
    /// relay them over the mesh.
    var nodeFrame: ByteBuffer { frame(forNode: true) }

    private func frame(forNode: Bool) -> ByteBuffer {
        encoded.withLock { encoded in
            if let frame = forNode ? encoded.node : encoded.plain { return frame }
            if forNode, let frame = encode(true) {
                encoded.node = frame
                return frame
            }
            let plain = encoded.plain ?? encode(false)!
            encoded.plain = plain
            if forNode { encoded.node = plain }
            return plain
        }
    }
}
