import BenchmarkSupport
import Foundation

extension FanOutBenchmark {
    /// One server's figures in a scenario: medians over its rounds (latencies pooled).
    struct Figures {
        var serverCPU: Double, clientCPU: Double, framesPerSecond: Double, bytesPerFrame: Double
        var latencies: [Double]
        /// The kernel's part of `serverCPU`, when every round cost the server half a second or more
        /// (the kernel counts it in 10 ms ticks).
        var serverKernelCPU: Double?
        /// Resident bytes per connection (first round, fresh process), when read.
        var memoryPerConnection: Double?
        /// Frames per write call and the calls, from the strace round; or why it is missing.
        var writeCalls: String

        init(_ result: Outcome, subscribers: Int) {
            let samples = result.samples
            serverCPU = median(samples.map { $0.serverCPU / Double($0.frames) })
            if samples.allSatisfy({ $0.serverCPU >= 0.5 }) {
                serverKernelCPU = median(samples.map { $0.serverKernelCPU / Double($0.frames) })
            }
            clientCPU = median(samples.map { $0.clientCPU / Double($0.frames) })
            framesPerSecond = median(samples.map { Double($0.frames) / $0.seconds })
            bytesPerFrame = median(samples.map { Double($0.bytes) / Double($0.frames) })
            latencies = samples.flatMap(\.latencies)
            if let first = samples.first, let idle = first.idle, let connected = first.connected {
                memoryPerConnection = Double(connected - idle) / Double(subscribers)
            }
            switch result.traced {
            case .success(let traced):
                let sockets = traced.syscalls?.toSockets ?? [:]
                let calls = sockets.values.reduce(0, +)
                let named = sockets.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                writeCalls = String(format: "%.2f frames per send call (strace round: %d frames; to sockets %@; %d other write calls)",
                                    Double(traced.frames) / Double(max(calls, 1)), traced.frames, named.isEmpty ? "none" : named,
                                    traced.syscalls?.other ?? 0)
            case .failure(let error):
                writeCalls = "write calls not counted: \(error)"
            }
        }

        var summary: String {
            let kernel = serverKernelCPU.map { String(format: " (%.2f µs in the kernel)", $0 * 1e6) } ?? ""
            return String(format: "server CPU %.2f µs per delivered frame%@, client CPU %.2f µs per frame, %.0f frames/s, %.0f B per frame; %@",
                          serverCPU * 1e6, kernel, clientCPU * 1e6, framesPerSecond, bytesPerFrame, writeCalls)
        }
    }

    /// The scenario's rows: each server's figures, then ours against Python's (the targets), and
    /// for reference against the floor and the bare stack.
    static func add(_ scenario: Scenario, _ results: [Outcome], pythonProblem: String?, to report: inout Report) {
        let figures = results.map { Figures($0, subscribers: scenario.subscribers) }
        let rounds = results.first?.samples.count ?? 0
        report.note("server fan-out (\(scenario.label)): \(scenario.title); each server its own process, median of \(rounds) rounds, alternated",
                    figures: "\(scenario.load.writes) inserts a round; the same NIO clients (this process) for every server", verdict: "")
        for (result, figure) in zip(results, figures) {
            report.note("  \(result.server)", figures: figure.summary, verdict: "")
        }
        func figure(_ role: FanOutServer.Role) -> (samples: [FanOutRound.Sample], figures: Figures)? {
            guard let index = results.firstIndex(where: { $0.role == role }) else { return nil }
            return (results[index].samples, figures[index])
        }
        guard let (ourRounds, ours) = figure(.ours) else { return }
        let bare = figure(.bare)?.figures, floor = figure(.floor)?.figures
        let pythonRounds = figure(.python)
        let python = pythonRounds?.figures
        let perFrame = scenario.subscribers == 1 ? "server CPU per change" : "server CPU per delivered frame"
        compare(perFrame, ours: ours.serverCPU * 1e6, python: python.map { $0.serverCPU * 1e6 }, unit: "µs", target: scenario.cpuTarget,
                pythonProblem: pythonProblem, to: &report)
        if let theirs = pythonRounds?.samples, ourRounds.count > 1 {
            // The machine's speed moves between rounds; a server's round and Python's in the same
            // alternation ran one after the other, so their ratio is less exposed to that.
            let ratios = zip(ourRounds, theirs).map { ($0.serverCPU / Double($0.frames)) / ($1.serverCPU / Double($1.frames)) }
            report.note("  reference: \(perFrame), ours over Python's round by round (each pair ran one after the other)",
                        figures: String(format: "median %.2f, lowest %.2f, highest %.2f; ours below Python's in %d of %d rounds",
                                        median(ratios), ratios.min() ?? 0, ratios.max() ?? 0, ratios.filter { $0 < 1 }.count, ratios.count),
                        verdict: "")
        }
        if let floor {
            let kernel = floor.serverKernelCPU.map { String(format: " (%.2f µs in the kernel)", $0 * 1e6) } ?? ""
            let againstPython = python.map { String(format: ", Python's %.2f", $0.serverCPU / floor.serverCPU) } ?? ""
            report.note("  reference: \(perFrame) of the floor, a server that does nothing but one send per subscriber",
                        figures: String(format: "%.2f µs%@; over it: ours %.2f%@", floor.serverCPU * 1e6, kernel,
                                        ours.serverCPU / floor.serverCPU, againstPython),
                        verdict: "")
        }
        if let python, scenario.cpuTarget < 1 {
            // What no server can save: the kernel's part of sending (one send per subscriber when
            // writes come one at a time; on loopback it carries the receiver's TCP work too).
            let allowed = scenario.cpuTarget * python.serverCPU
            if let kernel = ours.serverKernelCPU, kernel > allowed {
                report.note("  the kernel's part of our server's CPU alone, against the target",
                            figures: String(format: "%.2f µs per delivered frame in the kernel, above %.2f µs (the target times Python's figure)",
                                            kernel * 1e6, allowed * 1e6),
                            verdict: "the target is below what our sends cost the kernel")
            }
            if let floorKernel = floor?.serverKernelCPU {
                report.note("  the kernel's part of the floor's CPU, against the target",
                            figures: String(format: "%.2f µs per delivered frame in the kernel, against %.2f µs allowed (the target times Python's figure)",
                                            floorKernel * 1e6, allowed * 1e6),
                            verdict: floorKernel > allowed ? "above it: no server can meet the target on this machine"
                                : "below it: the target is within a server's reach")
            }
        }
        if !ours.latencies.isEmpty {
            for (label, fraction) in [("p50", 0.5), ("p99", 0.99)] {
                compare("fan-out latency \(label), from the send until the last of \(scenario.subscribers) subscribers has it (\(ours.latencies.count) writes)",
                        ours: percentile(ours.latencies, fraction) * 1e3, python: python.map { percentile($0.latencies, fraction) * 1e3 },
                        unit: "ms", target: 1, strictly: true, pythonProblem: pythonProblem, to: &report)
            }
            if let latencies = floor?.latencies, !latencies.isEmpty {
                report.note("  reference: the floor's fan-out latency",
                            figures: String(format: "p50 %.2f ms, p99 %.2f ms", percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3),
                            verdict: "")
            }
        }
        if let mine = ours.memoryPerConnection {
            let memoryRow = "(d) memory per connection: resident memory with the \(scenario.subscribers) subscribers connected and idle, "
                + "less the idle server's, per connection (fresh processes)"
            compare(memoryRow, ours: mine / 1e3, python: python?.memoryPerConnection.map { $0 / 1e3 }, unit: "kB", target: 1,
                    pythonProblem: pythonProblem, to: &report)
            if let bareMemory = bare?.memoryPerConnection {
                report.note("  reference: the bare stack", figures: String(format: "%.1f kB per connection", bareMemory / 1e3), verdict: "")
            }
            if let floorMemory = floor?.memoryPerConnection {
                report.note("  reference: the floor", figures: String(format: "%.1f kB per connection", floorMemory / 1e3), verdict: "")
            }
        }
        if let bare {
            report.note("  reference: \(perFrame) against the bare stack (no store) in the same run",
                        figures: String(format: "%.2f µs vs %.2f µs: ratio %.2f", ours.serverCPU * 1e6, bare.serverCPU * 1e6, ours.serverCPU / bare.serverCPU),
                        verdict: "")
        }
    }

    /// A row for a figure where less is better: ours against Python's in the same run, whose
    /// ratio must be at most `target` (below it, if `strictly`).
    static func compare(_ name: String, ours: Double, python: Double?, unit: String, target: Double, strictly: Bool = false,
                        pythonProblem: String?, to report: inout Report) {
        let targetText = (strictly ? "< " : "≤ ") + (target == 1.0 / 3 ? "1/3" : String(format: "%g", target))
        guard let python else {
            report.note("  \(name)", figures: String(format: "%.2f %@; no baseline", ours, unit),
                        verdict: "NOT MEASURED against Python: \(pythonProblem ?? "no figure")")
            return
        }
        let ratio = ours / python
        let met = strictly ? ratio < target : ratio <= target
        report.note("  \(name)", figures: String(format: "%.2f %@ vs %.2f %@ (Python websockets.broadcast server, same run)", ours, unit, python, unit),
                    verdict: String(format: "ratio %.2f %@ target %@", ratio, met ? "meets" : "BELOW", targetText))
    }
}
