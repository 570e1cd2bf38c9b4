import ArgumentParser
import Logging
import SyncCore
import SyncServer

/// `synclayer server migrate --from A --to B`: copies a server's store, keeping what nodes hold it to.
struct ServerMigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a server's store to another place (a SQLite file to PostgreSQL, or back), keeping its id, sequence numbers and vectors.",
        discussion: """
            Nodes continue against the copy without a full resync: the destination takes the source's \\
            server id and signing key, and every change keeps its server sequence. Stop the server first \\
            (the source is only read; what it commits during the copy is not copied). The destination \\
            must be new or empty. At the end the head, change count, version vector and every \\
            collection's digest are compared; the command prints them as JSON, or fails with the reason.
              synclayer server migrate --from server.sqlite --to postgres://synclayer@db.example/synclayer
            """)

    @Option(help: ArgumentHelp("The store to copy: a SQLite file or a postgres:// URL.", valueName: "path-or-url"))
    var from: String

    @Option(help: ArgumentHelp("Where to copy it: a new (or empty) SQLite file or PostgreSQL database.", valueName: "path-or-url"))
    var to: String

    @Option(help: "Changes per transaction.")
    var batch = 500

    func run() async throws {
        guard batch > 0 else { throw ValidationError("--batch is at least 1") }
        var logger = Logger(label: "synclayer.server.migrate")
        logger.logLevel = .warning
        let migration: ServerStoreMigration
        do {
            migration = try await migrateServerStore(from: from, to: to, batch: batch, logger: logger) { copied, head in
                if copied % 10_000 < batch || UInt64(copied) == head { StandardStreams.writeError("copied \(copied) of \(head) changes\n") }
            }
        } catch {
            printError("migration failed: \(error)")
            throw ExitCode(1)
        }
        let collections = migration.digests.map { digest -> JSONValue in
            .object(["collection": .string(digest.collection), "count": .int(Int64(digest.count)), "digest": .string(digest.digest)])
        }
        let report: JSONObject = ["serverID": .string(migration.serverID.rawValue), "changes": .int(Int64(migration.changes)),
                                  "head": .int(Int64(migration.head)), "collections": .array(collections)]
        LineWriter().line(JSONFormatting.pretty(.object(report)))
    }
}
