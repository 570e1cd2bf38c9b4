/// A hybrid logical clock with bounded drift: a pure state machine, fed the physical time by its owner.
///
/// ``now(physicalMillis:)`` returns readings that strictly increase. ``observe(_:physicalMillis:)``
/// moves the clock past a remote reading, but never further than ``maxDriftMillis`` ahead of the
/// physical clock: a peer whose clock runs an hour fast cannot drag every other clock an hour ahead.
package struct HybridLogicalClock: Sendable, Hashable {
    /// The last reading given out or observed.
    package private(set) var last: HLCTimestamp
    /// How far ahead of physical time an observed reading may move this clock.
    package let maxDriftMillis: UInt64

    /// A clock that has seen nothing later than `last`.
    package init(last: HLCTimestamp = .zero, maxDriftMillis: UInt64 = 60_000) {
        self.last = last
        self.maxDriftMillis = maxDriftMillis
    }

    /// A new reading, later than every reading given out or observed before.
    package mutating func now(physicalMillis: UInt64) -> HLCTimestamp {
        let physical = HLCTimestamp(wallMillis: physicalMillis)
        last = physical > last ? physical : last.successor
        return last
    }

    /// Moves the clock past `remote`, within the drift bound.
    ///
    /// - Returns: `false` when `remote` was further ahead than the bound allows and the clock stopped
    ///   at the bound; the caller counts that (a peer with a fast clock).
    @discardableResult
    package mutating func observe(_ remote: HLCTimestamp, physicalMillis: UInt64) -> Bool {
        let bound = HLCTimestamp(wallMillis: physicalMillis &+ maxDriftMillis, counter: .max)
        let accepted = min(remote, bound)
        if accepted > last { last = accepted }
        return remote <= bound
    }
}

extension HybridLogicalClock {
    /// After the physical clock was found wrong and corrected: forget readings ahead of `physicalMillis`.
    ///
    /// Stamps stay unique without a monotonic clock (they include the origin's sequence number), and
    /// a write to a document is always stamped after that document's newest stamp, so nothing
    /// causally later can lose; only the node's habit of stamping everything in the future ends.
    package mutating func rebase(physicalMillis: UInt64) {
        let physical = HLCTimestamp(wallMillis: physicalMillis)
        if last > physical { last = physical }
    }
}

/// A source of wall-clock time in milliseconds since the Unix epoch; injectable so tests control time.
package protocol WallClock: Sendable {
    /// The current time in milliseconds since the Unix epoch.
    func nowMillis() -> UInt64
}
