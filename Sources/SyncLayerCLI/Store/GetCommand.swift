import ArgumentParser
import SyncLayer
import SyncCore

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print one document as {\"id\", \"data\"}; exit 1 when it does not exist.")

    @OptionGroup var store: StoreOptions

    @Argument(help: "The collection.")
    var collection: String

    @Argument(help: "The record id.")
    var id: String

    func run() async throws {
        let document = try await store.withAccess { node in try await node.get(collection, id) }
        guard let document else {
            printError("no document \"\(id)\" in \"\(collection)\"")
            throw ExitCode(1)
        }
        store.print(document.cliJSON)
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a document (a tombstone that syncs). Deleting a missing id does nothing.")

    @OptionGroup var store: StoreOptions

    @Argument(help: "The collection.")
    var collection: String

    @Argument(help: "The record ids.")
    var ids: [String]

    func run() async throws {
        try await store.withAccess { node in try await node.delete(collection, ids) }
    }
}

func printError(_ message: String) {
    var standardError = StandardError()
    print("synclayer: \(message)", to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        StandardStreams.writeError(string)
    }
}
