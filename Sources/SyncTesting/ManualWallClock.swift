import SyncCore
import SyncStore
import Synchronization

/// A wall clock that moves only when told to: for tests of time-based logic.
package final class ManualWallClock: WallClock {
    private let millis: Atomic<UInt64>

    /// A clock reading `millis` (default: 2026-01-01T00:00:00Z).
    package init(millis: UInt64 = 1_767_225_600_000) {
        self.millis = Atomic(millis)
    }

    package func nowMillis() -> UInt64 {
        millis.load(ordering: .relaxed)
    }

    /// Moves the clock forward (or back, with a negative value).
    package func advance(byMillis delta: Int64) {
        _ = millis.wrappingAdd(UInt64(bitPattern: delta), ordering: .relaxed)
    }

    /// Sets the clock.
    package func set(millis value: UInt64) {
        millis.store(value, ordering: .relaxed)
    }
}
