import ArgumentParser
import SyncLayer
import SyncCore

/// Which node a data command works on: a database opened here, or a running node.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A node's SQLite database file, opened directly (created if missing).", valueName: "path"))
    var data: String?

    @Option(name: .long, help: ArgumentHelp("A running node's control URL (see `synclayer node`).", valueName: "url"))
    var node: String?

    @Flag(name: .long, help: "Print JSON indented over several lines.")
    var pretty = false

    func validate() throws {
        guard (data == nil) != (node == nil) else { throw ValidationError("give either --data PATH or --node URL") }
    }

    /// Runs `body` with access to the node, closing what it opened.
    func withAccess<T>(_ body: (any NodeAccess) async throws -> T) async throws -> T {
        if let node {
            return try await body(RemoteAccess(baseURL: node.hasSuffix("/") ? String(node.dropLast()) : node))
        }
        return try await withNode { try await body(LocalAccess(node: $0)) }
    }

    /// Opens the database (`--data` only) as a local-only node, runs `body`, and closes it.
    func withNode<T>(_ body: (SyncNode) async throws -> T) async throws -> T {
        guard let data else { throw ValidationError("this command needs --data PATH") }
        return try await SyncNode.with(SyncConfiguration(databasePath: data), logger: quietLogger(), body)
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
