import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SyncLayer
import SyncCore

struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Save a whole document (replacing it if the id exists) and print its id.",
        discussion: "With --merge, set only the given fields of an existing document (an update).")

    @OptionGroup var store: StoreOptions

    @Argument(help: "The collection.")
    var collection: String

    @Argument(help: "The document as a JSON object; '-' or nothing reads it from standard input.")
    var json: String?

    @Option(help: "The record id (a new UUID when omitted).")
    var id: String?

    @Flag(help: "Update only the given fields of the existing document --id.")
    var merge = false

    func run() async throws {
        let text = (json == nil || json == "-") ? StandardStreams.readInput() : json!
        let fields = try JSONFormatting.object(text, what: "the document")
        try await store.withAccess { node in
            if merge {
                guard let id else { throw ValidationError("--merge needs --id") }
                try await node.update(collection, id, fields)
                store.print(["id": .string(id)])
            } else {
                let saved = try await node.save(collection, fields, id: id)
                store.print(["id": .string(saved)])
            }
        }
    }
}
