#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import SyncCore
import Synchronization

/// The machine's real-time clock, optionally corrected by an offset learned from the server.
package final class SystemWallClock: WallClock {
    private let offset = Atomic<Int64>(0)

    package init() {}

    /// Milliseconds since the Unix epoch, plus the offset.
    package func nowMillis() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let millis = Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
        return UInt64(max(0, millis + offset.load(ordering: .relaxed)))
    }

    /// The correction applied to the machine's clock, in milliseconds.
    package var offsetMillis: Int64 {
        get { offset.load(ordering: .relaxed) }
        set { offset.store(newValue, ordering: .relaxed) }
    }
}

/// The machine's monotonic clock in nanoseconds: for intervals (keep-alives, rates), never dates.
package func monotonicNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
