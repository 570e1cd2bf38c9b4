import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import SyncLayer
import SyncCore

struct StoreDemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-demo",
        abstract: "Show a node at work: writes, queries, a live watch, and writes surviving kill -9.",
        discussion: "Everything happens in a temporary folder that is removed afterwards.")

    @Option(help: "Documents the killed writer may write before it is killed.")
    var killAfter = 300

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("synclayer-demo-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/node.sqlite"

        print("== 1. A node stores documents in SQLite (\(path))")
        let node = try await SyncNode.open(SyncConfiguration(databasePath: path), logger: quietLogger())
        let todos = node.collection("todos")
        var watch = todos.where("done", isEqualTo: false).orderBy("priority", descending: true).watch().makeAsyncIterator()
        _ = try await watch.next()
        try await todos.saveAll([
            Document(id: "milk", data: ["text": "Buy milk", "done": false, "priority": 2]),
            Document(id: "bike", data: ["text": "Fix bike", "done": false, "priority": 5]),
            Document(id: "tax", data: ["text": "File taxes", "done": true, "priority": 9]),
        ])
        if let open = try await watch.next() {
            print("   watch(done == false, by priority): \(open.map { $0["text"]?.stringValue ?? "" })")
        }
        try await todos.update("milk", ["done": true])
        if let open = try await watch.next() {
            print("   after update(milk, done: true):    \(open.map { $0["text"]?.stringValue ?? "" })")
        }
        print("   outbox: \(try await node.store.outboxCount()) changes wait for a server; node id \(node.nodeID)")
        await node.close()

        print("== 2. A writer is killed with SIGKILL mid-stream; every write it saw return must survive")
        let child = try SpawnedChild(executable: CommandLine.arguments[0],
                                     arguments: ["write-loop", "--data", path, "items", "--writers", "4"])
        var printed: [String] = []
        while printed.count < killAfter, let line = child.readLine() {
            printed.append(line)
        }
        child.kill(SIGKILL)
        child.wait()
        let reopened = try await SyncNode.open(SyncConfiguration(databasePath: path), logger: quietLogger())
        var missing = 0
        for id in printed where try await reopened.collection("items").get(id) == nil { missing += 1 }
        let stored = try await reopened.collection("items").count()
        let digest = try await reopened.collection("items").digest()
        await reopened.close()
        print("   writes acknowledged before the kill: \(printed.count); documents after reopening: \(stored); lost: \(missing)")
        print("   items digest: \(digest.digest.prefix(16))")
        if missing > 0 { throw ExitCode(1) }
        print("== done: nothing acknowledged was lost")
    }
}
