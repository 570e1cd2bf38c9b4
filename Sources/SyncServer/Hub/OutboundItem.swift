import SyncCore
import SyncStore
import Synchronization

/// One committed change as the hub hands it to connections: encoded once for all of them.
struct HubChange: Sendable {
    let change: Change
    let serverSeq: UInt64
    let submitter: UInt64
    /// The change frame, already encoded.
    let frame: String
}

/// What a connection's outbound task processes, in order.
enum OutboundItem: Sendable {
    /// A commit, in server sequence order.
    case commit([HubChange])
    /// A frame to send as it is.
    case frame(String)
    /// A node said hello: subscribe, send what it lacks, then go live.
    case catchUp(cursor: UInt64, vector: VersionVector, collections: [String])
    /// A client of the original protocol subscribed: live from now.
    case subscribe(String)
    /// Stop delivering a collection.
    case unsubscribe(String)
    /// Close the connection with this error.
    case close(FrameError)
}

/// A connection's outbound queue, and how many changes wait in it (commit items not yet taken).
final class OutboundQueue: Sendable {
    let continuation: AsyncStream<OutboundItem>.Continuation
    /// Changes in queued `commit` items: the hub admits a commit's count when it queues it, the
    /// connection releases it when it takes the item.
    let queued: OutboundQueueBound

    init(continuation: AsyncStream<OutboundItem>.Continuation, limit: Int) {
        self.continuation = continuation
        queued = OutboundQueueBound(limit: limit)
    }
}
