import ArgumentParser
import SyncLayer
import SyncCore

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Print a collection's documents in id order, as a JSON array of {\"id\", \"data\"}.")

    @OptionGroup var store: StoreOptions

    @Argument(help: "The collection.")
    var collection: String

    @Option(help: "At most this many documents.")
    var limit: Int?

    @Option(help: "Skip this many documents first.")
    var offset: Int?

    func run() async throws {
        let documents = try await store.withAccess { node in try await node.list(collection, limit: limit, offset: offset) }
        store.print(.array(documents.map(\.cliJSON)))
    }
}
