import ArgumentParser
import SyncLayer

/// The options every offline command takes: which node database to open.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The node's SQLite database file (created if missing).", valueName: "path"))
    var data: String

    @Flag(name: .long, help: "Print JSON indented over several lines.")
    var pretty = false

    /// Opens the database as a local-only node, runs `body`, and closes it.
    func withNode<T>(_ body: (SyncNode) async throws -> T) async throws -> T {
        let node = try await SyncNode.open(SyncConfiguration(databasePath: data), logger: quietLogger())
        do {
            let result = try await body(node)
            await node.close()
            return result
        } catch {
            await node.close()
            throw error
        }
    }

    func print(_ value: JSONValue) {
        Swift.print(pretty ? JSONFormatting.pretty(value) : value.canonicalString)
    }
}

extension Document {
    /// `{"id": …, "data": {…}}`: the id beside the fields, never mixed into them.
    var cliJSON: JSONValue {
        ["id": .string(id), "data": .object(data)]
    }
}
