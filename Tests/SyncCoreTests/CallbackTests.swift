import SyncCore
import Synchronization
import Testing

/// A closure kept behind a lock and called many times is called at the same stack depth every time:
/// it is not wrapped again on each read (see ``Callback``).
@Suite struct CallbackTests {
    /// Where the callee's frame is on the stack.
    @inline(never)
    static func stackAddress() -> UInt {
        var marker = 0
        return withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
    }

    @Test func aCallbackBehindALockIsCalledAtTheSameDepthEveryTime() {
        let depths = Mutex<[UInt]>([])
        let locked = Locked<Callback<Int>?>(Callback { _ in
            let address = CallbackTests.stackAddress()
            depths.withLock { $0.append(address) }
        })
        for index in 0..<2000 { locked.withLock { $0 }?(index) }
        let seen = depths.withLock { $0 }
        #expect(seen.count == 2000)
        // A closure re-wrapped on each read sits two thunk frames (at least 32 bytes) deeper per call:
        // 64 kB apart after 2,000 calls.
        #expect((seen.max() ?? 0) - (seen.min() ?? 0) < 1024, "the 2,000th call is no deeper than the first")
    }
}
