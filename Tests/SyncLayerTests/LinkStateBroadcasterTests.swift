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
