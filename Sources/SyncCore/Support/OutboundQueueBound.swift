import Synchronization

/// How many changes wait in an outbound queue (a server connection's, a mesh link's), and the rule
/// that bounds it: past `limit` the queue's reader is too slow and is dropped (it catches up by
/// cursor or version vector when it comes back), so a reader that never reads cannot pin in memory
/// everything sent to it meanwhile. Counted in changes, not queue items: one item may hold a batch.
package final class OutboundQueueBound: Sendable {
    package let limit: Int
    private let count = Atomic<Int>(0)

    package init(limit: Int) {
        self.limit = limit
    }

    /// Counts `changes` more as queued, or, when the queue would then hold more than `limit`,
    /// returns `false` and counts nothing: drop the reader instead of queueing them. A batch on an
    /// empty queue is always admitted, however large.
    package func admit(_ changes: Int) -> Bool {
        let queued = count.add(changes, ordering: .relaxed).newValue
        guard queued <= limit || queued == changes else {
            count.subtract(changes, ordering: .relaxed)
            return false
        }
        return true
    }

    /// `changes` left the queue (written, or taken by its reader); returns how many are still counted.
    @discardableResult
    package func release(_ changes: Int) -> Int {
        count.subtract(changes, ordering: .relaxed).newValue
    }
}
