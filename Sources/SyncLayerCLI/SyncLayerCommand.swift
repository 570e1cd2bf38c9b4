import ArgumentParser
import SyncCore

@main
struct SyncLayerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synclayer",
        abstract: "An offline-first sync node, its server, and tools to inspect a node's data.",
        discussion: """
            Documents are JSON objects in named collections. Commands that take --data PATH work \
            directly on a node's SQLite database (the node need not run); the file is created if \
            missing. Output is JSON.

            Examples:
              synclayer put --data node.sqlite todos '{"text":"Buy milk","done":false}'
              synclayer query --data node.sqlite todos --where 'done == false' --order-by text
            """,
        subcommands: [
            PutCommand.self, GetCommand.self, DeleteCommand.self, ListCommand.self, QueryCommand.self,
            StatusCommand.self, WatchCommand.self, ServerCommand.self, NodeCommand.self, DemoCommand.self, StoreDemoCommand.self, WriteLoopCommand.self,
        ]
    )
}
