import SyncCore
import Testing

/// The outbound-queue bound shared by server connections and mesh links.
@Suite struct OutboundQueueBoundTests {
    @Test func aBatchOnAnEmptyQueueIsAlwaysAdmittedAndTheLimitHoldsAfterIt() {
        let queue = OutboundQueueBound(limit: 10)
        #expect(queue.admit(25), "an empty queue takes a batch however large")
        #expect(!queue.admit(1), "past the limit the reader is too slow")
        let fresh = OutboundQueueBound(limit: 10)
        #expect(fresh.admit(6) && fresh.admit(4), "up to the limit")
        #expect(!fresh.admit(1))
    }

    @Test func releasedChangesMakeRoomAgain() {
        let queue = OutboundQueueBound(limit: 10)
        #expect(queue.admit(8))
        queue.release(8)
        #expect(queue.admit(10))
        queue.release(10)
        #expect(queue.admit(30), "empty again: a large batch is taken")
    }
}
