#if PostgreSQL
import BenchmarkSupport
import Foundation
import SyncCore
import SyncServer
import SyncTesting

/// 10e. One PostgreSQL store alone, in this process: what one instance's writer does under load,
/// without the network, the frames or the clients. Batches of 1,200 changes (about one instance's
/// group in part 10a) that update 5,000 records, one transaction each, two commits in flight, on a
/// new database of the durable cluster. The rate bounds what one instance can take.
///
/// Ours: the store as shipped, which keeps in memory the documents its own commits wrote
/// (`PostgresDocumentCache`). Baseline: the same store keeping none, reading every document it
/// merges into from the table, as any instance must after another instance's commit. Rounds
/// alternate the two; medians. The process's and PostgreSQL's CPU come from `/proc`.
enum StoreBenchmark {
    static let collection = "store"

    struct Round {
        var seconds = 0.0, cpu = 0.0, database = 0.0, changes = 0
        /// Transactions prepared while the one before wrote, and used (`preparedAhead`).
        var prepared = 0
    }

    static func run(report: inout Report, quick: Bool, text: String) async throws {
        guard TestPostgres.adminURL != nil else {
            report.note("one PostgreSQL store alone", figures: "not measured", verdict: "NOT MEASURED: run under scripts/with-postgres (scripts/bench does)")
            return
        }
        let postmaster = try ClusterBenchmark.postmasterPID()
        let size = 1_200, warmUp = 5, counted = quick ? 15 : 40, rounds = quick ? 3 : 5
        let writer = FloodBenchmark.Writer()
        let wall = UInt64(Date().timeIntervalSince1970 * 1000)
        // The first batches write every record (5,000 of 6,000 changes), uncounted; the others update them.
        let batches = (0..<(warmUp + counted)).map { writer.batch($0, size: size, collection: collection, text: text, wall: wall) }
        var cached: [Round] = [], uncached: [Round] = []
        for round in 0..<rounds {
            for keeping in round % 2 == 0 ? [true, false] : [false, true] {
                let measured = try await TestPostgres.withDatabase { url in
                    let store = try await PostgresServerStorage.open(url: url, documentCacheBytes: keeping ? PostgresServerStorage.documentCacheBytes : 0)
                    do {
                        for batch in batches.prefix(warmUp) { _ = try await store.commit(batch, submitter: 1) }
                        let me = getpid()
                        let startCPU = ClusterBenchmark.cpuSeconds(me) ?? 0, startDatabase = ClusterBenchmark.childrenCPU(of: postmaster)
                        let start = now()
                        // Two commits in flight, as an instance under load has: while one
                        // transaction writes, the next waits (and is prepared, `PostgresWriter`).
                        let changes = try await withThrowingTaskGroup(of: Int.self) { group in
                            var changes = 0, next = batches.dropFirst(warmUp).makeIterator()
                            func add(_ batch: [Change]) {
                                group.addTask {
                                    try await store.commit(batch, submitter: 1).values.filter {
                                        if case .committed(_, false) = $0 { true } else { false }
                                    }.count
                                }
                            }
                            for _ in 0..<2 { if let batch = next.next() { add(batch) } }
                            while let committed = try await group.next() {
                                changes += committed
                                if let batch = next.next() { add(batch) }
                            }
                            return changes
                        }
                        let result = Round(seconds: now() - start,
                                           cpu: (ClusterBenchmark.cpuSeconds(me) ?? 0) - startCPU,
                                           database: ClusterBenchmark.used(startDatabase, ClusterBenchmark.childrenCPU(of: postmaster)),
                                           changes: changes, prepared: store.preparedAhead.committed)
                        guard changes == counted * size else { throw BenchmarkError("\(changes) of \(counted * size) changes committed") }
                        if keeping, store.documentsRead != 0 {
                            throw BenchmarkError("the store read \(store.documentsRead) documents it had written itself")
                        }
                        await store.close()
                        return result
                    } catch {
                        await store.close()
                        throw error
                    }
                }
                if keeping { cached.append(measured) } else { uncached.append(measured) }
            }
        }
        let rate = { (round: Round) in Double(round.changes) / round.seconds }
        report.ratio("one PostgreSQL store alone, two commits in flight, \(counted) transactions of \(size) updates of 5,000 records, median of \(rounds) rounds",
                     ours: median(cached.map(rate)), baseline: median(uncached.map(rate)), unit: "changes/s",
                     baselineName: "the same store reading every document it merges into from the table", target: nil)
        func perChange(_ rounds: [Round]) -> String {
            String(format: "%.1f µs (wall), %.1f µs CPU in this process, %.1f µs PostgreSQL",
                   median(rounds.map { $0.seconds / Double($0.changes) }) * 1e6, median(rounds.map { $0.cpu / Double($0.changes) }) * 1e6,
                   median(rounds.map { $0.database / Double($0.changes) }) * 1e6)
        }
        let rates = { (rounds: [Round]) in rounds.map { String(Int(rate($0))) }.joined(separator: ", ") }
        report.note("  per change", figures: "documents kept: \(perChange(cached)); every document read: \(perChange(uncached)); "
                        + "changes/s round by round: \(rates(cached)) against \(rates(uncached)); "
                        + "transactions prepared while the one before wrote: \(cached.map { String($0.prepared) }.joined(separator: ", ")) "
                        + "and \(uncached.map { String($0.prepared) }.joined(separator: ", ")) of \(counted)", verdict: "")
    }
}
#endif
