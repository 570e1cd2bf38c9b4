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

/// Saves documents one after another and prints each id once its save returned: the subject of the
/// durability test, which kills this process and checks that every printed id survived.
struct WriteLoopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write-loop", abstract: "Save documents in a loop, printing each id after its save returned (for tests).",
        shouldDisplay: false)

    @OptionGroup var store: StoreOptions

    @Argument(help: "The collection.")
    var collection: String

    @Option(help: "Stop after this many documents.")
    var count = 1_000_000

    @Option(help: "Number of concurrent writers.")
    var writers = 1

    func run() async throws {
        let output = LineWriter()
        try await store.withNode { node in
            let documents = node.collection(collection)
            let perWriter = max(1, count / max(1, writers))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<max(1, writers) {
                    group.addTask {
                        for index in 0..<perWriter {
                            let id = "w\(writer)-\(index)"
                            try await documents.save(["writer": .int(Int64(writer)), "index": .int(Int64(index))], id: id)
                            output.line(id)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}
