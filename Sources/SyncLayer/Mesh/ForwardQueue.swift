import SyncCore
import SyncStore
import Synchronization

/// New changes on their way to the mesh's relay: local commits and changes from the server, handed
/// over by the threads that committed them, which must not wait for the relay (signing, one queue
/// per link).
///
/// Bounded like a link's queue (``MeshConfiguration/linkQueueLimit``, counted in changes, and never
/// below its default, 10,000; a batch on an empty queue is always taken): a node that commits faster
/// than it can sign and relay (a bulk import) would otherwise hold every change twice, once in its
/// store and once here. The floor keeps a small `linkQueueLimit` a bound on links: with the same
/// small bound here, a relay that fell behind on a busy machine skipped changes, and a peer that had
/// stopped reading was sent too little to overflow its link and be dropped (it still was, by its
/// silence, two heartbeats later).
///
/// What the bound turns away is skipped, not lost: it is in the store, and a peer gets what it
/// lacks by its version vector. Once the relay has caught up, it learns that some were skipped
/// (``done(with:)``) and asks every peer for its vector at once, instead of waiting for the
/// periodic exchange; not before, so that an import does not make it ask again and again while it
/// lasts.
final class ForwardQueue: Sendable {
    /// What the relay takes, in commit order. An empty batch only says that changes were skipped.
    let batches: AsyncStream<[ChangeInTransit]>
    private let continuation: AsyncStream<[ChangeInTransit]>.Continuation
    private let waiting: OutboundQueueBound
    private let skipped = Atomic<Bool>(false)

    init(limit: Int) {
        (batches, continuation) = AsyncStream.makeStream(of: [ChangeInTransit].self)
        waiting = OutboundQueueBound(limit: limit)
    }

    /// Queues `changes` for the relay, or skips them (returns `false`) when the queue would then
    /// hold more than its limit.
    @discardableResult
    func offer(_ changes: [ChangeInTransit]) -> Bool {
        guard !changes.isEmpty else { return true }
        guard waiting.admit(changes.count) else {
            // One empty batch per run of skips, so that the relay hears of them even if nothing follows.
            if !skipped.exchange(true, ordering: .acquiringAndReleasing) { continuation.yield([]) }
            return false
        }
        continuation.yield(changes)
        return true
    }

    /// The relay is done with `batch`; returns whether it has caught up (nothing queued) after
    /// changes were skipped since it last heard of a skip.
    func done(with batch: [ChangeInTransit]) -> Bool {
        guard waiting.release(batch.count) == 0 else { return false }
        return skipped.exchange(false, ordering: .acquiringAndReleasing)
    }

    /// Ends ``batches``.
    func finish() {
        continuation.finish()
    }
}
