import BenchmarkSupport
import Foundation
import SyncLayer
import SyncServer
import SyncTesting
import SyncCore

/// Sync benchmarks: every figure is printed beside a baseline measured in the same run.
///
/// 1. A change saved on node A until `watch()` on node B emits it, through the server on loopback,
///    against a bare WebSocket echo round trip on the same stack (Hummingbird + hummingbird-websocket
///    server, swift-websocket client).
/// 2. Server fan-out to 1, 100 and 1,000 subscribers of the original protocol, each server its own
///    process: `synclayer server` against a broadcast server written with Python `websockets`
///    (`broadcast_server.py`), and for reference a bare broadcast server on our own stack, all
///    driven by the same Swift client code (`FanOutBenchmark`); needs `synclayer`, as parts 6–10 do.
///
/// Run with `swift build -c release --product sync-benchmark --scratch-path .build-bench &&
/// .build-bench/release/sync-benchmark` (add `--quick` for a short run). The Python baseline needs
/// `websockets`: `python3 -m venv .build-bench/pyvenv && .build-bench/pyvenv/bin/pip install websockets`.
/// 3.–5. The LAN mesh: start to first peer link through Avahi, write to `watch()` over the mesh with
/// the server down, reconciliation of 10,000 offline changes from 5 nodes (`MeshBenchmark`).
///
/// 6.–8. At scale: a `synclayer server` process with 1,000 connections (memory, fan-out latency), an
/// idle `synclayer node` process (memory), 20 nodes healing a partition (`ScaleBenchmark`). These
/// need the `synclayer` executable beside this one (`--product synclayer`) or in `SYNCLAYER_BINARY`.
///
/// 9. A `synclayer server` process flooded by writers, ping flooders and subscribers that never read:
/// its memory over the run against its memory idle, and whether every acknowledged change is stored
/// (`FloodBenchmark`).
///
/// 10. Several `synclayer server` instances on one PostgreSQL database: durable changes per second
/// through 1 and 3 instances, write to `watch()` across instances, failover after SIGKILL, 3,000
/// connections (`ClusterBenchmark`), and one store alone with and without the documents its commits
/// wrote kept in memory (`StoreBenchmark`, 10e); only with `--only cluster`, in a build with the
/// PostgreSQL trait, under scripts/with-postgres.
///
/// `--only latency`, `--only fanout`, `--only fanout-ours` (no Python), `--only mesh`,
/// `--only scale`, `--only flood` or `--only cluster` runs one part, for profiling (`--only store`: part 10e alone).
@main
struct SyncBenchmark {
    static func main() async throws {
        try await run()
    }

    /// The measurements, off the main actor.
    nonisolated static func run() async throws {
        let arguments = CommandLine.arguments
        // The fan-out's bare reference server runs as its own process: this executable in this mode.
        if arguments.count > 1, arguments[1] == BareBroadcastServer.serveArgument {
            try await BareBroadcastServer.serve()
            return
        }
        if arguments.count > 1, arguments[1] == EchoServer.serveArgument {
            try await serveAsChild(EchoServer.start)
            return
        }
        let quick = arguments.contains("--quick")
        // `--only latency|fanout|fanout-ours|mesh|scale|flood` runs one part (for profiling).
        let only = arguments.firstIndex(of: "--only").flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
        let warmUp = quick ? 50 : 200, samples = quick ? 300 : 2_000
        let directory = try TemporaryDirectory(prefix: "sync-bench")
        defer { directory.remove() }
        // A document's text field, so that frames are about 250 bytes like a small real change.
        let text = "Buy milk, bread and a dozen eggs on the way home"
        var report = Report()

        // 1. Change on A to watch() on B, against a bare WebSocket echo round trip.
        if only == nil || only == "latency" {
            let echoMessage = #"{"type":"update","collection":"bench","recordId":"counter","data":{"n":1234,"text":"\#(text)"},"#
                + #""timestamp":"2026-01-01T00:00:00.000Z","metadata":{"changeId":"9f2c4e1a0b3d4c5e8f7a6b5c4d3e2f1a:1234","hlc":"019b76daa8000002"}}"#
            let echo = try await echoLatencies(message: echoMessage, warmUp: warmUp, samples: samples)
            let measured = try await watchLatencies(directory: directory, warmUp: warmUp, samples: samples, text: text)
            report.latencyPercentiles("change on A to watch() on B via server, loopback", ours: measured.total, baseline: echo,
                                      baselineName: "bare WebSocket echo round trip, \(echoMessage.utf8.count) B, Hummingbird + WSClient")
            let steps = [("save() on A returned", measured.saved), ("server committed", measured.serverCommitted),
                         ("B's store committed", measured.bCommitted), ("watch() on B emitted", measured.total)]
            report.note("  where it goes: medians from the start of save()", figures: steps.map { String(format: "%@ %.0f µs", $0.0, median($0.1) * 1e6) }
                .joined(separator: ", "), verdict: "")
            if HopTrace.isEnabled {
                // Each hop's median over the writes that reached it (a build with the HopTrace trait).
                let hops = HopTrace.Hop.allCases.compactMap { hop in
                    measured.hops[hop].map { String(format: "%@ %.0f µs (%d)", "\(hop)", median($0) * 1e6, $0.count) }
                }
                report.note("  hop by hop (HopTrace): medians from the start of save(), writes that reached it", figures: hops.joined(separator: ", "),
                            verdict: "")
            }
            // The same with each server in its own process, as deployed: A and B share this
            // process, the server (ours, or the echo) runs alone in its own.
            let childEcho = try await echoLatenciesOfChild(message: echoMessage, warmUp: warmUp, samples: samples)
            let child = try await watchLatencies(directory: directory, warmUp: warmUp, samples: samples, text: text,
                                                 serverExecutable: try synclayerExecutable())
            report.latencyPercentiles("change on A to watch() on B via `synclayer server`, its own process", ours: child.total, baseline: childEcho,
                                      baselineName: "the same echo, its own process")
        }

        // 2. Server fan-out, each server its own process, against Python `websockets.broadcast`.
        if only == nil || only == "fanout" || only == "fanout-ours" {
            try await FanOutBenchmark.run(report: &report, directory: directory, quick: quick, text: text, python: only != "fanout-ours")
        }
        if only == nil || only == "mesh" {
            try await MeshBenchmark.run(report: &report, directory: directory, quick: quick, warmUp: warmUp, samples: samples, text: text)
        }
        if only == nil || only == "scale" {
            try await ScaleBenchmark.run(report: &report, directory: directory, quick: quick, text: text)
        }
        if only == nil || only == "flood" {
            try await FloodBenchmark.run(report: &report, directory: directory, quick: quick)
        }
        // Part 10 only on request: it needs a build with the PostgreSQL trait and a durable cluster
        // (scripts/bench runs it that way, after the rest).
        if only == "cluster" || only == "store" {
            #if PostgreSQL
            if only == "cluster" { try await ClusterBenchmark.run(report: &report, directory: directory, quick: quick, text: text) }
            try await StoreBenchmark.run(report: &report, quick: quick, text: text)
            #else
            report.note("several instances on PostgreSQL", figures: "not measured", verdict: "NOT MEASURED: this build has no PostgreSQL trait")
            #endif
        }
        report.print()
    }

    /// Seconds from `save` on A until `watch()` on B emits that write, for each of `samples` writes
    /// after `warmUp` unmeasured ones; and, per write, the seconds until `save` returned, until the
    /// server committed it and until B's store committed it. Each write updates the same document (a
    /// counter), so every emission is the same small result.
    ///
    /// The server runs in this process, or, given `serverExecutable`, as that `synclayer server` in
    /// its own (then the server's commit times are not known: `serverCommitted` stays empty).
    static func watchLatencies(directory: TemporaryDirectory, warmUp: Int, samples: Int, text: String,
                               serverExecutable: String? = nil) async throws -> WatchSamples {
        let label = serverExecutable == nil ? "latency" : "latency-child"
        let server: TestServer?, child: ChildProcess?, baseURL: String
        if let serverExecutable {
            let (process, port) = try await ScaleBenchmark.startServer(serverExecutable, data: directory.file("\(label)-server.sqlite"))
            (server, child, baseURL) = (nil, process, "http://127.0.0.1:\(port)")
        } else {
            let started = try await TestServer.start(databasePath: directory.file("\(label)-server.sqlite"))
            (server, child, baseURL) = (started, nil, started.baseURL)
        }
        let a: TestNode, b: TestNode
        do {
            a = try await TestNode.start(path: directory.file("\(label)-a.sqlite"), baseURL: baseURL, collections: ["bench"])
            b = try await TestNode.start(path: directory.file("\(label)-b.sqlite"), baseURL: baseURL, collections: ["bench"])
        } catch {
            await server?.stop()
            if let child { await PythonBroadcastServer.stop(child) }
            throw error
        }
        // When the server and B last committed a change of "bench" (set on their writer threads).
        let serverCommitted = Locked<Double>(0), bCommitted = Locked<Double>(0)
        let serverObserver = server?.store.observeCommits { event in
            if case .committed(let commit) = event, commit.collections.contains("bench") { serverCommitted.withLock { $0 = now() } }
        }
        let bObserver = b.node.store.observeCommits { event in
            if case .committed(let commit) = event, commit.collections.contains("bench") { bCommitted.withLock { $0 = now() } }
        }
        let result: Result<WatchSamples, any Error>
        do {
            _ = try await withTimeout(30, "nodes connecting") {
                await a.waitUntilConnected()
                await b.waitUntilConnected()
                return true
            }
            result = .success(try await withTimeout(600, "watch latency") {
                let writer = a.node.collection("bench")
                var watch = b.node.collection("bench").watch().makeAsyncIterator()
                _ = try await watch.next()
                var measured = WatchSamples()
                for index in 0..<(warmUp + samples) {
                    serverCommitted.withLock { $0 = 0 }
                    bCommitted.withLock { $0 = 0 }
                    HopTrace.reset()
                    let start = now()
                    try await writer.save(["n": .int(Int64(index)), "text": .string(text)], id: "counter")
                    let saved = now()
                    while true {
                        guard let documents = try await watch.next() else { throw BenchmarkError("watch() ended") }
                        if case .int(let seen)? = documents.first?["n"], seen == Int64(index) { break }
                    }
                    let end = now()
                    if index >= warmUp {
                        measured.total.append(end - start)
                        measured.saved.append(saved - start)
                        if server != nil { measured.serverCommitted.append(serverCommitted.withLock { $0 } - start) }
                        measured.bCommitted.append(bCommitted.withLock { $0 } - start)
                        for (hop, time) in HopTrace.read() { measured.hops[hop, default: []].append(time - start) }
                    }
                }
                return measured
            })
        } catch {
            result = .failure(error)
        }
        if let serverObserver { server?.store.removeObserver(serverObserver) }
        b.node.store.removeObserver(bObserver)
        let stopping = now()
        await a.stop()
        await b.stop()
        await server?.stop()
        if let child { await PythonBroadcastServer.stop(child) }
        if now() - stopping > 5 {
            FileHandle.standardError.write(Data(String(format: "note: stopping the nodes and the server took %.1f s\n", now() - stopping).utf8))
        }
        return try result.get()
    }
}

/// The latencies of part 1, in seconds from the start of each `save`.
struct WatchSamples: Sendable {
    /// Until `watch()` on B emitted the write.
    var total: [Double] = []
    /// Until `save` on A returned.
    var saved: [Double] = []
    /// Until the server's store committed the change.
    var serverCommitted: [Double] = []
    /// Until B's store committed the change.
    var bCommitted: [Double] = []
    /// Until each step of the way (``HopTrace``), in a build with the `HopTrace` trait.
    var hops: [HopTrace.Hop: [Double]] = [:]
}
