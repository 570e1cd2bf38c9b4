import Foundation

func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

/// The `fraction` percentile (0.5, 0.99) of `values`.
func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

/// Collects figures and prints them as a table, each with its baseline and ratio (as StoreBenchmark).
struct Report {
    var rows: [(String, String, String)] = []

    /// A rate, where more is better: `ours / baseline` should reach `target`.
    mutating func ratio(_ name: String, ours: Double, baseline: Double, unit: String, baselineName: String, target: Double?) {
        let ratio = ours / baseline
        let verdict = target.map { ratio >= $0 ? "meets target \(format($0))x" : "BELOW target \(format($0))x" } ?? ""
        rows.append((name, String(format: "%.0f %@ vs %.0f (%@)", ours, unit, baseline, baselineName), String(format: "ratio %.2f %@", ratio, verdict)))
    }

    /// A latency, where less is better: under `limit` microseconds, and `ours / baseline` at most `maxRatio`.
    mutating func latency(_ name: String, ours: Double, baseline: Double, baselineName: String, limit: Double, maxRatio: Double) {
        let ratio = ours / baseline
        let absolute = ours < limit ? "meets target < \(format(limit)) µs" : "BELOW target < \(format(limit)) µs"
        let relative = ratio <= maxRatio ? "meets target ≤ \(format(maxRatio))x" : "BELOW target ≤ \(format(maxRatio))x"
        rows.append((name, String(format: "%.0f µs vs %.0f µs (%@)", ours, baseline, baselineName),
                     String(format: "ratio %.2f %@; %@", ratio, relative, absolute)))
    }

    /// A figure without a baseline (the baseline could not run).
    mutating func note(_ name: String, figures: String, verdict: String) {
        rows.append((name, figures, verdict))
    }

    func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    func print() {
        for (name, figures, verdict) in rows {
            Swift.print("\(name)\n    \(figures)" + (verdict.isEmpty ? "" : "\n    \(verdict)"))
        }
    }
}
