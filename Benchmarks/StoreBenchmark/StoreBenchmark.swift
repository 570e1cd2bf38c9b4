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
        report.print()
    }

    static func openNode(_ path: String, _ durability: Durability) async throws -> SyncNode {
        var configuration = SyncConfiguration(databasePath: path)
        configuration.durability = durability
        return try await SyncNode.open(configuration)
    }
}
