@testable import SyncLayer
import Testing

@Suite struct LinkStateBroadcasterTests {
    /// Two tasks set states at once: whatever order they land in, a listener's last state is the
    /// one the broadcaster holds (the mesh takes its uplink from the last state it heard).
    @Test func aListenerEndsOnTheStateTheBroadcasterHolds() async {
        var mismatches = 0
        for _ in 0..<2_000 {
            let broadcaster = LinkStateBroadcaster(now: { 0 })
            let states = broadcaster.stream()
            await withTaskGroup(of: Void.self) { group in
                for task in 0..<2 {
                    group.addTask {
                        for step in 0..<20 { broadcaster.set((step + task) % 2 == 0 ? .connected : .reconnecting) }
                    }
                }
            }
            broadcaster.finish()
            var last: LinkState?
            for await state in states { last = state }
            if last != broadcaster.current { mismatches += 1 }
        }
        #expect(mismatches == 0, "a listener's last state differed from the broadcaster's in \(mismatches) of 2,000 rounds")
    }
}

extension LinkStateBroadcasterTests {
    /// A listener cancelled while a state is being set: the stream's termination runs under the
    /// cancelled task's runtime lock, and `set` resumes that task while holding the broadcaster's
    /// lock. The termination must not wait for the broadcaster's lock, or the two deadlock (a node's
    /// `stop()` hung this way). Each round races one cancellation against a run of `set`s.
    @Test func aListenerCancelledWhileAStateIsSetDoesNotDeadlock() async {
        let broadcaster = LinkStateBroadcaster(now: { 0 })
        var heard = 0
        for _ in 0..<3_000 {
            let listening = Promise<Void>()
            let listener = Task {
                var count = 0
                for await _ in broadcaster.stream() {
                    count += 1
                    listening.fulfill(())
                }
                return count
            }
            await listening.value
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for step in 0..<8 { broadcaster.set(step % 2 == 0 ? .connected : .reconnecting) }
                }
                group.addTask { listener.cancel() }
            }
            heard += await listener.value
        }
        #expect(heard >= 3_000, "every listener heard at least the current state")
        #expect(broadcaster.listenerCount == 0, "cancelled listeners are dropped, not kept")
    }
}
