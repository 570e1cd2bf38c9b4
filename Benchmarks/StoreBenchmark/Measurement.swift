import Foundation

func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// Seconds taken by `body`.
func measure(_ body: () -> Void) -> Double {
    let start = now()
    body()
    return now() - start
}

/// Seconds taken by `body`.
func measureAsync(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Void) async rethrows -> Double {
    let start = now()
    try await body()
    return now() - start
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

/// Collects figures and prints them as a table, each with its baseline and ratio.
struct Report {
    var rows: [(String, String, String)] = []

    mutating func ratio(_ name: String, ours: Double, baseline: Double, unit: String, baselineName: String, target: Double?) {
        let ratio = ours / baseline
        let verdict = target.map { ratio >= $0 ? "meets target \(format($0))x" : "BELOW target \(format($0))x" } ?? ""
        rows.append((name, String(format: "%.0f %@ vs %.0f (%@)", ours, unit, baseline, baselineName), String(format: "ratio %.2f %@", ratio, verdict)))
    }

    mutating func absolute(_ name: String, value: Double, unit: String, target: Double, note: String) {
        rows.append((name, String(format: "%.0f %@ (%@)", value, unit, note), value >= target ? "meets target \(Int(target))" : "BELOW target \(Int(target))"))
    }

    func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    func print() {
        for (name, figures, verdict) in rows {
            Swift.print("\(name)\n    \(figures)\n    \(verdict)")
        }
    }
}
