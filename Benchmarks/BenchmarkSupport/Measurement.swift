import Foundation

/// Monotonic seconds, for timing.
public func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// Seconds taken by `body`.
public func measure(_ body: () -> Void) -> Double {
    let start = now()
    body()
    return now() - start
}

/// Seconds taken by `body`.
public func measureAsync(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Void) async rethrows -> Double {
    let start = now()
    try await body()
    return now() - start
}

public func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

/// The `fraction` percentile (0.5, 0.99) of `values`.
public func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

/// Collects figures and prints them as a table, each with its baseline and ratio.
public struct Report {
    var rows: [(String, String, String)] = []

    public init() {}

    /// A rate, where more is better: `ours / baseline` should reach `target`.
    public mutating func ratio(_ name: String, ours: Double, baseline: Double, unit: String, baselineName: String, target: Double?) {
        let ratio = ours / baseline
        let verdict = target.map { ratio >= $0 ? "meets target \(format($0))x" : "BELOW target \(format($0))x" } ?? ""
        rows.append((name, String(format: "%.0f %@ vs %.0f (%@)", ours, unit, baseline, baselineName), String(format: "ratio %.2f %@", ratio, verdict)))
    }

    /// A figure with an absolute target, where more is better.
    public mutating func absolute(_ name: String, value: Double, unit: String, target: Double, note: String) {
        rows.append((name, String(format: "%.0f %@ (%@)", value, unit, note), value >= target ? "meets target \(Int(target))" : "BELOW target \(Int(target))"))
    }

    /// A latency, where less is better: under `limit` microseconds, and `ours / baseline` at most `maxRatio`.
    public mutating func latency(_ name: String, ours: Double, baseline: Double, baselineName: String, limit: Double, maxRatio: Double) {
        let ratio = ours / baseline
        let absolute = ours < limit ? "meets target < \(format(limit)) µs" : "BELOW target < \(format(limit)) µs"
        let relative = ratio <= maxRatio ? "meets target ≤ \(format(maxRatio))x" : "BELOW target ≤ \(format(maxRatio))x"
        rows.append((name, String(format: "%.0f µs vs %.0f µs (%@)", ours, baseline, baselineName),
                     String(format: "ratio %.2f %@; %@", ratio, relative, absolute)))
    }

    /// The p50 and p99 of `ours` against those of `baseline` (latencies in seconds), with the
    /// targets every latency figure here has: p50 under 1 ms, p99 under 5 ms, each within `maxRatio`.
    public mutating func latencyPercentiles(_ name: String, ours: [Double], baseline: [Double], baselineName: String, maxRatio: Double = 3) {
        for (label, fraction, limit) in [("p50", 0.5, 1_000.0), ("p99", 0.99, 5_000.0)] {
            latency("\(name), \(label) (\(ours.count) samples)", ours: percentile(ours, fraction) * 1e6,
                    baseline: percentile(baseline, fraction) * 1e6, baselineName: baselineName, limit: limit, maxRatio: maxRatio)
        }
    }

    /// A figure without a baseline (the baseline could not run).
    public mutating func note(_ name: String, figures: String, verdict: String) {
        rows.append((name, figures, verdict))
    }

    func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    public func print() {
        for (name, figures, verdict) in rows {
            Swift.print("\(name)\n    \(figures)" + (verdict.isEmpty ? "" : "\n    \(verdict)"))
        }
    }
}
