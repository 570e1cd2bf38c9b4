import ArgumentParser
import SyncLayer
import SyncCore

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print a collection's documents now, then again on every change (one JSON array per line).")

    @OptionGroup var store: StoreOptions

    @Argument(help: "The collection.")
    var collection: String

    @Option(help: "Stop after this many results (the first is the current state).")
    var count: Int?

    func run() async throws {
        try await store.withAccess { node in
            var printed = 0
            for try await documents in node.watch(collection) {
                LineWriter().line(JSONValue.array(documents.map(\.cliJSON)).canonicalString)
                printed += 1
                if let count, printed >= count { return }
            }
        }
    }
}
