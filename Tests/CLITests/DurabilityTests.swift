import Foundation
import SyncLayer
import SyncTesting
import Testing
import SyncCore

/// A write that returned survives `kill -9`: a child saves in a loop and prints each id after its
/// save returned; we kill it mid-stream, reopen the database, and every printed id must be there.
@Suite struct DurabilityTests {
    func killMidStream(database: String, writers: Int, after lines: Int) async throws -> [String] {
        let child = try ChildProcess(executable: try synclayerExecutable(),
                                     arguments: ["write-loop", "--data", database, "items", "--writers", String(writers)])
        var printed: [String] = []
        for await line in child.lines {
            printed.append(line)
            if printed.count == lines {
                child.send(SIGKILL)
                break
            }
        }
        let status = await child.waitForExit()
        #expect(status == SIGKILL, "the child must die by SIGKILL, mid-stream (stderr: \(child.standardError))")
        return printed
    }

    @Test(arguments: [1, 8])
    func everyPrintedIDSurvivesKillNine(writers: Int) async throws {
        try await withTemporaryDirectory(prefix: "kill9") { directory in
            let database = directory.file("node.sqlite")
            var rng = SplitMix64(seed: testSeed(fallback: 99))
            var rounds = 0
            for _ in 0..<4 {
                let printed = try await killMidStream(database: database, writers: writers, after: Int.random(in: 50...600, using: &rng))
                #expect(!printed.isEmpty)
                let node = try await SyncNode.open(SyncConfiguration(databasePath: database))
                let items = node.collection("items")
                var missing: [String] = []
                for id in printed where try await items.get(id) == nil { missing.append(id) }
                let outbox = try await node.store.outboxCount()
                let stored = try await items.count()
                await node.close()
                #expect(missing.isEmpty, "acknowledged writes lost after kill -9: \(missing.prefix(5))")
                #expect(outbox >= stored, "every surviving document has its change in the outbox")
                rounds += 1
            }
            #expect(rounds == 4)
        }
    }
}
