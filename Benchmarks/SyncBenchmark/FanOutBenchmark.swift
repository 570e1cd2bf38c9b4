import BenchmarkSupport
import Foundation
import SyncTesting

/// 2. Server fan-out (issue 17), each server its own child process: ours (`synclayer server`), the
/// bare stack without a store (``BareBroadcastServer``), the floor (`floor_server.py`: one send per
/// subscriber and nothing else, what any server must at least spend) and Python's
/// `websockets.broadcast` server (`broadcast_server.py`), all driven by the same bulk-reading NIO clients in this process, rounds
/// alternated between the servers, medians reported. Per server: its CPU per delivered frame
/// (`/proc/PID/task/*/schedstat` from the first send until the last delivery) and the kernel's part
/// of it (`/proc/PID/stat`, in rounds long enough for its 10 ms ticks), this process's CPU
/// per frame over the same window (every client), frames per second, bytes per frame on the wire,
/// and frames per write call (counted by strace in a round of its own, which measures nothing else).
///
/// a. 100 subscribers, one writer streaming inserts: our server CPU per frame at most a tenth of Python's.
/// b. 1,000 subscribers, one write at a time: CPU per delivery at most a third of Python's, and the
///    fan-out latency (from the send until the last subscriber has it) below Python's at p50 and p99.
///    Each delivery is then one send call; the report says when the kernel's part of those sends
///    alone (ours, and the floor's) is above the target.
/// c. 1 subscriber, inserts streamed: CPU per change at most Python's.
/// d. Memory per connection: resident memory with the 1,000 subscribers of (b) connected and idle,
///    less that of the idle server, per connection, on a fresh process: at most Python's.
enum FanOutBenchmark {
    struct Scenario {
        /// The letter of the figure, and what it is.
        let label: String
        let title: String
        let subscribers: Int
        let load: FanOutRound.Load
        /// The load of the round that counts write calls (strace slows every one).
        let tracedLoad: FanOutRound.Load
        let rounds: Int
        /// Server CPU per frame against Python's: the most it may be.
        let cpuTarget: Double
        /// Whether the first round on each server reads its memory (fresh processes).
        var memory = false
    }

    /// One scenario's rounds on one server.
    struct Outcome {
        let role: FanOutServer.Role
        let server: String
        let samples: [FanOutRound.Sample]
        let traced: Swift.Result<FanOutRound.Sample, any Error>
    }

    static func run(report: inout Report, directory: TemporaryDirectory, quick: Bool, text: String, python: Bool) async throws {
        let files = ProcessMemory.raiseFileLimit()
        guard files > 2 * 1_000 + 200 else { throw BenchmarkError("the open-file limit is \(files); 1,000 connections need about 2,200 (ulimit -n)") }
        let executable = try synclayerExecutable()
        let streamed = quick ? 500 : 2_000, rounds = quick ? 1 : 5
        let scenarios = [
            Scenario(label: "a", title: "1 writer streaming \(streamed) inserts to 100 subscribers", subscribers: 100,
                     load: .stream(count: streamed), tracedLoad: .stream(count: streamed), rounds: rounds, cpuTarget: 0.1),
            Scenario(label: "b", title: "1,000 subscribers, one write at a time", subscribers: 1_000,
                     load: .oneAtATime(warmUp: quick ? 5 : 20, count: quick ? 50 : 200), tracedLoad: .oneAtATime(warmUp: 0, count: quick ? 20 : 50),
                     rounds: quick ? 1 : 3, cpuTarget: 1.0 / 3, memory: true),
            // Three times (a)'s rounds: a round is 30-50 ms of server CPU, and its figure moved by a
            // quarter between rounds of the same build. (Not longer rounds: the server takes a burst
            // of 4,000 frames from one connection, then 2,000 a second: `ServerLimits`.)
            Scenario(label: "c", title: "1 writer streaming \(streamed) inserts to 1 subscriber", subscribers: 1,
                     load: .stream(count: streamed), tracedLoad: .stream(count: streamed), rounds: 3 * rounds, cpuTarget: 1),
        ]
        for scenario in scenarios {
            let (results, pythonProblem) = try await FanOutServer.withServers(executable, data: directory.file("fanout-\(scenario.label).sqlite"),
                                                                              python: python) { servers, problem in
                (try await measure(scenario, on: servers, text: text), problem)
            }
            add(scenario, results, pythonProblem: pythonProblem, to: &report)
        }
    }

    /// `scenario.rounds` rounds on each server, alternated (each round starts with the next
    /// server), then one round per server counting its write calls.
    static func measure(_ scenario: Scenario, on servers: [FanOutServer], text: String) async throws -> [Outcome] {
        var samples = [[FanOutRound.Sample]](repeating: [], count: servers.count)
        for round in 0..<scenario.rounds {
            for offset in servers.indices {
                let index = (round + offset) % servers.count
                samples[index].append(try await FanOutRound.run(servers[index], subscribers: scenario.subscribers, load: scenario.load,
                                                                tag: "\(scenario.label)\(round)-\(index)", text: text,
                                                                memory: scenario.memory && round == 0))
            }
        }
        var results: [Outcome] = []
        for (index, server) in servers.enumerated() {
            let traced: Swift.Result<FanOutRound.Sample, any Error>
            do {
                traced = .success(try await FanOutRound.run(server, subscribers: scenario.subscribers, load: scenario.tracedLoad,
                                                            tag: "\(scenario.label)t-\(index)", text: text, countSyscalls: true))
            } catch {
                traced = .failure(error)
            }
            results.append(Outcome(role: server.role, server: server.name, samples: samples[index], traced: traced))
        }
        return results
    }
}
