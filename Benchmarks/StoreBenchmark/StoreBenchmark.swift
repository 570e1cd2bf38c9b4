import BenchmarkSupport
import Foundation
import SyncLayer
import SyncCore

/// Store benchmarks: every figure is printed beside a raw SQLite baseline measured in the same run.
///
/// Run with `swift run -c release store-benchmark` (add `--quick` for a short run).
@main
struct StoreBenchmark {
    static func main() async throws {
        try await run()
    }

    /// The measurements, off the main actor (as a library user's task would be).
    nonisolated static func run() async throws {
        let quick = CommandLine.arguments.contains("--quick")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("synclayer-bench-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let document: JSONObject = ["text": "Buy milk and bread", "done": false, "priority": 3, "tags": ["home", "errand"], "owner": "ada"]
        let body = JSONValue.object(document).canonicalString
        var report = Report()
        if CommandLine.arguments.contains("--only-checkpoints") {
            try await checkpoints(directory: directory, quick: quick, report: &report)
            report.print()
            return
        }

        // 1. One durable save at a time, against one raw INSERT transaction at a time.
        for durability in [Durability.processCrash, .powerLoss] {
            let count = durability == .powerLoss ? (quick ? 100 : 400) : (quick ? 1_000 : 5_000)
            var rawRates: [Double] = [], ourRates: [Double] = []
            for round in 0..<3 {
                let raw = RawSQLite(path: "\(directory)/raw-\(durability)-\(round).sqlite", synchronous: durability == .powerLoss ? "FULL" : "NORMAL")
                let ids = (0..<count).map { "r\($0)" }
                rawRates.append(Double(count) / measure { raw.insertEach(ids: ids, body: body) })
                let node = try await openNode("\(directory)/node-\(durability)-\(round).sqlite", durability)
                let items = node.collection("items")
                let seconds = try await measureAsync { for index in 0..<count { try await items.save(document, id: "d\(index)") } }
                ourRates.append(Double(count) / seconds)
                await node.close()
            }
            report.ratio("save() one at a time, \(durability)", ours: median(ourRates), baseline: median(rawRates), unit: "writes/s",
                         baselineName: "raw INSERT, one transaction each", target: 0.5)
        }

        // 2. 100 concurrent writers at powerLoss durability: group commit against one commit per write.
        do {
            let writers = 100, perWriter = quick ? 3 : 10
            let raw = RawSQLite(path: "\(directory)/raw-group.sqlite", synchronous: "FULL")
            let rawRate = Double(writers * perWriter) / measure { raw.insertEach(ids: (0..<(writers * perWriter)).map { "g\($0)" }, body: body) }
            let node = try await openNode("\(directory)/node-group.sqlite", .powerLoss)
            let items = node.collection("items")
            let seconds = try await measureAsync {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<writers {
                        group.addTask { for index in 0..<perWriter { try await items.save(document, id: "w\(writer)-\(index)") } }
                    }
                    try await group.waitForAll()
                }
            }
            await node.close()
            report.ratio("100 concurrent writers, powerLoss", ours: Double(writers * perWriter) / seconds, baseline: rawRate, unit: "writes/s",
                         baselineName: "raw INSERT, one FULL commit each", target: 5)
        }

        // 3. saveAll of 10,000 documents.
        do {
            let count = 10_000
            let raw = RawSQLite(path: "\(directory)/raw-batch.sqlite", synchronous: "NORMAL")
            let rawRate = Double(count) / measure { raw.insertBatch(ids: (0..<count).map { "b\($0)" }, body: body) }
            let node = try await openNode("\(directory)/node-batch.sqlite", .processCrash)
            let documents = (0..<count).map { Document(id: "b\($0)", data: document) }
            let seconds = try await measureAsync { try await node.collection("batch").saveAll(documents) }
            await node.close()
            report.absolute("saveAll of 10,000 documents", value: Double(count) / seconds, unit: "documents/s", target: 100_000,
                            note: String(format: "raw INSERT of the same rows in one transaction: %.0f/s (ratio %.2f)", rawRate, Double(count) / seconds / rawRate))
        }

        // 4. A filtered, ordered query on 100,000 documents, against the same SQL by hand.
        do {
            let count = quick ? 20_000 : 100_000
            let path = "\(directory)/node-query.sqlite"
            let node = try await openNode(path, .processCrash)
            let statuses = ["open", "closed", "waiting", "done"]
            var documents: [Document] = []
            for index in 0..<count {
                documents.append(Document(id: String(format: "t%06d", index), data: [
                    "status": .string(statuses[index % 4]), "priority": .int(Int64(index * 7919 % 1000)), "title": .string("Task \(index)"),
                    "owner": ["name": .string("user\(index % 50)")],
                ]))
            }
            for chunk in stride(from: 0, to: count, by: 10_000) {
                try await node.collection("tasks").saveAll(Array(documents[chunk..<min(count, chunk + 10_000)]))
            }
            let page = node.collection("tasks").where("status", isEqualTo: "open").orderBy("priority", descending: true).limit(50)
            let all = node.collection("tasks").where("status", isEqualTo: "open").orderBy("priority", descending: true)
            let raw = RawSQLite(path: path, synchronous: "NORMAL")
            let handSQL = """
                SELECT id, body FROM documents WHERE collection = 'tasks' AND visible = 1
                AND json_type(body, '$."status"') = 'text' AND json_extract(body, '$."status"') = 'open'
                ORDER BY json_extract(body, '$."priority"') DESC, id
                """
            for (name, query, sql) in [("query: filter + order + limit 50", page, handSQL + " LIMIT 50"), ("query: filter + order, all \(count / 4) rows", all, handSQL)] {
                var ours: [Double] = [], theirs: [Double] = []
                for _ in 0..<5 {
                    theirs.append(measure { _ = raw.query(sql) })
                    ours.append(try await measureAsync { _ = try await query.get() })
                }
                report.ratio(name + " on \(count) documents", ours: 1 / median(ours), baseline: 1 / median(theirs), unit: "queries/s",
                             baselineName: "same SQL by hand, raw SQLite", target: nil)
            }
            await node.close()
        }
        try await checkpoints(directory: directory, quick: quick, report: &report)
        report.print()
    }

    /// 5. `save()` latency over a run long enough to cross several WAL checkpoints (32 MiB each),
    /// against raw SQLite inserts whose checkpoints run inside the commit that crosses the threshold
    /// (`wal_autocheckpoint = 8192`). Alongside, a probe task measures how late the cooperative pool
    /// wakes a 1 ms sleep: a checkpoint on a pool thread shows up there.
    nonisolated static func checkpoints(directory: String, quick: Bool, report: inout Report) async throws {
        let count = quick ? 5_000 : 20_000
        let filler = String(repeating: "lorem ipsum dolor sit amet ", count: 70)
        let document: JSONObject = ["text": .string(filler), "done": false, "priority": 3]
        let body = JSONValue.object(document).canonicalString
        let (rawLatencies, rawProbe) = try await withProbe {
            let raw = RawSQLite(path: "\(directory)/raw-checkpoints.sqlite", synchronous: "NORMAL")
            raw.exec("PRAGMA wal_autocheckpoint = 8192")
            return raw.insertEach(ids: (0..<count).map { "c\($0)" }, body: body)
        }
        let node = try await openNode("\(directory)/node-checkpoints.sqlite", .processCrash)
        let items = node.collection("items")
        let (ourLatencies, ourProbe) = try await withProbe {
            var latencies: [Double] = []
            latencies.reserveCapacity(count)
            for index in 0..<count {
                let started = now()
                try await items.save(document, id: "c\(index)")
                latencies.append(now() - started)
            }
            return latencies
        }
        await node.close()
        let walBytes = Double(count) * Double(body.utf8.count) * 2 / 1_048_576
        let percentiles = [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)].map { label, fraction in
            String(format: "%@ %.0f µs vs %.0f µs (ratio %.2f)", label, percentile(ourLatencies, fraction) * 1e6,
                   percentile(rawLatencies, fraction) * 1e6, percentile(ourLatencies, fraction) / percentile(rawLatencies, fraction))
        }
        report.note("save() of a \(body.utf8.count)-byte document, \(count) in a row (about \(Int(walBytes)) MiB of rows: several 32 MiB checkpoints)",
                    figures: percentiles.joined(separator: "; ") + String(format: "; slowest %.1f ms vs %.1f ms",
                                                                           (ourLatencies.max() ?? 0) * 1e3, (rawLatencies.max() ?? 0) * 1e3),
                    verdict: "against raw INSERT, one transaction each, checkpoint inside the commit that crosses 8,192 pages")
        report.note("  cooperative pool: 1 ms sleep woken late by, p99 / max",
                    figures: String(format: "during save(): %.2f / %.1f ms; during raw INSERT on a pool thread: %.2f / %.1f ms",
                                    percentile(ourProbe, 0.99) * 1e3, (ourProbe.max() ?? 0) * 1e3,
                                    percentile(rawProbe, 0.99) * 1e3, (rawProbe.max() ?? 0) * 1e3),
                    verdict: "")
    }

    /// Runs `body` while a probe task sleeps 1 ms at a time and records how late each wake-up is.
    nonisolated static func withProbe<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> (T, [Double]) {
        try await withThrowingTaskGroup(of: (T?, [Double]).self) { group in
            group.addTask {
                var lateness: [Double] = []
                while !Task.isCancelled {
                    let started = now()
                    try? await Task.sleep(for: .milliseconds(1))
                    lateness.append(max(0, now() - started - 0.001))
                }
                return (nil, lateness)
            }
            let result = try await body()
            group.cancelAll()
            var probe: [Double] = []
            for try await (_, lateness) in group { probe = lateness }
            return (result, probe)
        }
    }

    static func openNode(_ path: String, _ durability: Durability) async throws -> SyncNode {
        var configuration = SyncConfiguration(databasePath: path)
        configuration.durability = durability
        return try await SyncNode.open(configuration)
    }
}
