import SyncCore
import Synchronization

/// A wall clock that moves only when told to: for tests of time-based logic.
public final class ManualWallClock: WallClock {
    private let millis: Atomic<UInt64>

    /// A clock reading `millis` (default: 2026-01-01T00:00:00Z).
    public init(millis: UInt64 = 1_767_225_600_000) {
        self.millis = Atomic(millis)
    }

    public func nowMillis() -> UInt64 {
        millis.load(ordering: .relaxed)
    }

    /// Moves the clock forward (or back, with a negative value).
    public func advance(byMillis delta: Int64) {
        _ = millis.wrappingAdd(UInt64(bitPattern: delta), ordering: .relaxed)
    }

    /// Sets the clock.
    public func set(millis value: UInt64) {
        millis.store(value, ordering: .relaxed)
    }
}
