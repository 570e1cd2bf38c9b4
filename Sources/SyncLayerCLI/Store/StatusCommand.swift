import ArgumentParser
import SyncLayer

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a node database's id, outbox depth, version vector, and per collection its document count and digest.",
        discussion: "Two nodes hold the same documents in a collection exactly when its digests are equal.")

    @OptionGroup var store: StoreOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let report: JSONObject = try await store.withNode { node in
            var collections: JSONObject = [:]
            for name in try await node.store.collections() {
                let digest = try await node.store.digest(collection: name)
                collections[name] = ["count": .int(Int64(digest.count)), "digest": .string(digest.digest)]
            }
            return [
                "nodeId": .string(node.nodeID.rawValue),
                "outbox": .int(Int64(try await node.store.outboxCount())),
                "vector": try await node.store.vector().jsonValue,
                "collections": .object(collections),
            ]
        }
        if json {
            store.print(.object(report))
            return
        }
        print("node      \(report["nodeId"]!.stringValue!)")
        print("outbox    \(report["outbox"]!.intValue!) change(s) not acknowledged by a server")
        print("collection            documents  digest")
        for (name, info) in (report["collections"]!.objectValue!).sorted(by: { $0.key < $1.key }) {
            let padded = name.padding(toLength: max(20, name.count), withPad: " ", startingAt: 0)
            let count = String(info["count"]!.intValue!)
            print("\(padded)  \(String(repeating: " ", count: max(0, 9 - count.count)))\(count)  \(info["digest"]!.stringValue!.prefix(16))")
        }
    }
}
