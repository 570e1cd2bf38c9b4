import ArgumentParser
import Logging
import ServiceLifecycle
import SyncServer
import SyncStore
import SyncCore

/// `synclayer server`: runs the server (`run`, the default) or copies its store (`migrate`).
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the SyncLayer server (`synclayer server --data …` is `synclayer server run --data …`), or move its data.",
        subcommands: [ServerRunCommand.self, ServerMigrateCommand.self],
        defaultSubcommand: ServerRunCommand.self)
}

struct ServerRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the SyncLayer server: REST under /sync and WebSocket at /ws, on one port.",
        discussion: """
            Keeps its data in one SQLite file, or in PostgreSQL, where several instances may share one \
            database (nodes list them all with `synclayer node --server A,B,C`). Without --tokens every client may read and write every \
            collection (fine on loopback, not elsewhere). A token file looks like:
              {"tokens": {"<token>": {"name": "field-team", "read": ["*"], "write": ["todos", "notes"]}}}
            With --tls-cert and --tls-key (PEM files) it speaks only HTTPS and WSS. Prints \
            'listening on http://HOST:PORT' (or https://) once it accepts connections; SIGTERM or SIGINT \
            shut it down gracefully (in-flight commits finish, the database is closed).
            """)

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to bind (0 picks a free one).")
    var port = 8080

    @Option(help: ArgumentHelp("Where the server keeps its data: a SQLite database file (the embedded default), or a PostgreSQL URL, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE or postgres://USER@/DATABASE?host=/SOCKET/DIR (in builds with PostgreSQL support: `swift build`, not scripts/build-release).", valueName: "path-or-url"))
    var data: String

    @Option(help: ArgumentHelp("A JSON file of bearer tokens and their rights.", valueName: "file"))
    var tokens: String?

    @Option(help: ArgumentHelp("A file holding the token of the server console at /admin/ (trailing newline ignored; never on the command line). Without it the console is off.", valueName: "path"))
    var adminTokenFile: String?

    @Option(help: ArgumentHelp("TLS: a PEM file of the server's certificate chain (its own certificate first). Needs --tls-key.", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("TLS: a PEM file of the certificate's private key. Needs --tls-cert.", valueName: "path"))
    var tlsKey: String?

    @Option(help: "processCrash (default) or powerLoss.")
    var durability = "processCrash"

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func run() async throws {
        var configuration = ServerConfiguration(databasePath: data, host: host, port: port)
        guard let durability = Durability(rawValue: durability) else { throw ValidationError("--durability is processCrash or powerLoss") }
        configuration.durability = durability
        if let tokens { configuration.authority = try TokenAuthority.load(path: tokens) }
        if let adminTokenFile {
            guard let text = try? String(contentsOfFile: adminTokenFile, encoding: .utf8), !text.trimmed(where: \.isNewline).isEmpty else {
                throw ValidationError("--admin-token-file: cannot read a token from \(adminTokenFile)")
            }
            configuration.adminToken = text.trimmed(where: \.isNewline)
        }
        switch (tlsCert, tlsKey) {
        case (let cert?, let key?): configuration.tls = ServerTLS(certificateChainPath: cert, privateKeyPath: key)
        case (nil, nil): break
        default: throw ValidationError("--tls-cert and --tls-key go together")
        }
        var logger = Logger(label: "synclayer.server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let server = SyncServer(configuration: configuration, logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Connections get this long to finish; then the rest is cancelled (the database is still closed).
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        async let running: Void = group.run()
        if let port = await server.waitUntilRunning() {
            LineWriter().line("listening on \(configuration.tls == nil ? "http" : "https")://\(host):\(port)")
        }
        try await running
    }
}
