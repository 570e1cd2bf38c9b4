import ArgumentParser
import SyncLayer
import SyncCore

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a node's id, link state, outbox depth, server cursor, and per collection its document count and digest.",
        discussion: "Two nodes hold the same documents in a collection exactly when its digests are equal.")

    @OptionGroup var store: StoreOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let report = try await store.withAccess { try await $0.status() }
        if json {
            store.print(.object(report))
            return
        }
        print("node        \(report["nodeId"]?.stringValue ?? "?")")
        if let link = report["link"]?.stringValue { print("link        \(link)") }
        if let server = report["server"]?.stringValue { print("server      \(server) (cursor \(report["serverCursor"]?.intValue ?? 0))") }
        if let backend = report["backend"]?.objectValue, let name = backend["protocol"]?.stringValue, name != "unknown" {
            let transport = backend["transport"]?.stringValue.map { ", \($0)" } ?? ""
            print("backend     \(name == "original" ? "original protocol" : "SyncLayer server")\(transport)")
        }
        let delivered = report["backend"]?["protocol"]?.stringValue == "original" ? "confirmed delivered" : "acknowledged"
        print("outbox      \(report["outbox"]?.intValue ?? 0) change(s) not yet \(delivered) by the backend")
        if let mesh = report["mesh"]?.objectValue {
            print("mesh        team \(mesh["team"]?.stringValue ?? "?"), port \(mesh["port"]?.intValue ?? 0), uplink \(mesh["uplink"]?.boolValue == true ? "yes" : "no"), discovery \(mesh["discovery"]?.stringValue ?? "?")")
            for peer in mesh["peers"]?.arrayValue ?? [] {
                let age = peer["linkAgeSeconds"]?.doubleValue ?? 0
                print("  peer      \(peer["nodeId"]?.stringValue ?? "?") at \(peer["address"]?.stringValue ?? "?") (\(peer["direction"]?.stringValue ?? "?")), uplink \(peer["uplink"]?.boolValue == true ? "yes" : "no"), linked \(Int(age)) s")
            }
        }
        print("collection            documents  digest")
        for (name, info) in (report["collections"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            let padded = name.rightPad(20)
            let count = String(info["count"]?.intValue ?? 0)
            print("\(padded)  \(String(repeating: " ", count: max(0, 9 - count.count)))\(count)  \(info["digest"]?.stringValue?.prefix(16) ?? "")")
        }
    }
}
