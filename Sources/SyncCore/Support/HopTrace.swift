#if HopTrace
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
#endif

/// When a write reached each step of its way from `save()` on one node to `watch()` on another,
/// through the server: what `sync-benchmark --only latency` prints hop by hop in a build with the
/// `HopTrace` trait (`Docs/Benchmarks.md`, "Write → `watch()` hop by hop, kept in the build").
/// Without the trait ``mark(_:)`` is empty and ``isEnabled`` is `false`.
///
/// One process-wide record, for a benchmark that has one write in flight at a time: each hop keeps
/// the first time it was reached since ``reset()``.
package enum HopTrace {
    /// The steps, in the order a write takes them.
    package enum Hop: Int, CaseIterable, Sendable {
        /// The writing node's store committed the change and handed it to the realtime session.
        case handedToSession
        /// The session's sender took it.
        case sending
        /// The sender signed it.
        case signed
        /// The sender encoded and sealed its frame, and writes it.
        case sealed
        /// The server read and decoded the frame.
        case serverDecoded
        /// The server checked the frame's code.
        case serverOpened
        /// The connection's handling task took the frame.
        case serverHandling
        /// The handling task asked the store to commit.
        case serverCommitting
        /// The store committed and the hub publishes the commit.
        case published
        /// A subscriber's connection takes the change frame to write it.
        case subscriberWritten
        /// The receiving node's session decoded the frame.
        case received
        /// The receiving node's engine asks its store to apply it.
        case applying
        /// The receiving node's writer runs the transaction.
        case writing
        /// The receiving node's `watch()` woke for the commit.
        case watchWoke
        /// `watch()` read the query's new result.
        case watchRead
    }

    #if HopTrace
    private static let marks = Mutex<[Double]>(Array(repeating: 0, count: Hop.allCases.count))
    #endif

    /// Whether this build records hops.
    package static var isEnabled: Bool {
        #if HopTrace
        true
        #else
        false
        #endif
    }

    /// Records that `hop` was reached now, unless it was already since the last ``reset()``.
    @inline(__always)
    package static func mark(_ hop: Hop) {
        #if HopTrace
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        let seconds = Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
        marks.withLock { if $0[hop.rawValue] == 0 { $0[hop.rawValue] = seconds } }
        #endif
    }

    /// Forgets every mark (before the next write).
    package static func reset() {
        #if HopTrace
        marks.withLock { $0 = Array(repeating: 0, count: Hop.allCases.count) }
        #endif
    }

    /// When each hop was reached since the last ``reset()``, in seconds of the monotonic clock
    /// (`CLOCK_MONOTONIC`); a hop not reached is left out.
    package static func read() -> [Hop: Double] {
        #if HopTrace
        let times = marks.withLock { $0 }
        return Dictionary(uniqueKeysWithValues: Hop.allCases.compactMap { hop in times[hop.rawValue] == 0 ? nil : (hop, times[hop.rawValue]) })
        #else
        [:]
        #endif
    }
}
