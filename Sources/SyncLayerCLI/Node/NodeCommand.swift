import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ServiceLifecycle
import SyncLayer
import SyncTelemetry
import SyncCore
import SyncStore

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a sync node: its database, the link to a server, and a control endpoint on loopback.",
        discussion: """
            Other commands talk to a running node with --node http://127.0.0.1:CONTROL_PORT, e.g.
              synclayer put --node http://127.0.0.1:7001 todos '{"text":"x"}'
              synclayer status --node http://127.0.0.1:7001
            Prints 'control http://127.0.0.1:PORT' once the endpoint listens. SIGTERM or SIGINT stop it.
            """)

    @Option(help: ArgumentHelp("The node's SQLite database file (created if missing).", valueName: "path"))
    var data: String

    @Option(help: ArgumentHelp("The server's base URL, e.g. http://127.0.0.1:8080; several instances of one server (on one PostgreSQL database) comma-separated, tried in turn when the one in use fails.", valueName: "urls"))
    var server: String?

    @Option(help: ArgumentHelp("The realtime WebSocket URL when it is not the server's /ws (a backend of the original protocol on another host), e.g. ws://127.0.0.1:3000/ws.", valueName: "url"))
    var websocketURL: String?

    @Option(help: "Bearer token for the server.")
    var token: String?

    @Option(help: ArgumentHelp("For an https:// server: a PEM file of the certificates that may sign the server's (its self-signed certificate, or the team's authority), instead of the system's roots.", valueName: "path"))
    var serverCA: String?

    @Option(help: ArgumentHelp("Collections to sync, comma-separated.", valueName: "names"))
    var collections = "todos"

    @Option(help: "Port of the control endpoint on 127.0.0.1 (0 picks a free one).")
    var control = 0

    @Flag(help: "Poll only; no realtime WebSocket link.")
    var noRealtime = false

    @Option(help: "Seconds between polls while the realtime link is down.")
    var syncInterval: Double = 30

    @Option(help: "Seconds between realtime pings (a link silent for two is dead).")
    var pingInterval: Double = 30

    @Option(help: "Seconds before the first reconnection attempt.")
    var reconnectDelay: Double = 5

    @Option(help: "processCrash (default) or powerLoss.")
    var durability = "processCrash"

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Flag(help: "Join the LAN mesh: listen for peers, advertise through Avahi, relay changes while the server is away.")
    var mesh = false

    @Option(help: ArgumentHelp("Mesh: the team id; only peers of the same team link.", valueName: "id"))
    var team = "default"

    @Option(help: ArgumentHelp("Mesh: a file holding the team secret (at least 16 bytes; trailing newline ignored). Only nodes with it link, and peer traffic is encrypted. Never on the command line.", valueName: "path"))
    var teamSecretFile: String?

    @Option(help: ArgumentHelp("Mesh: the address the peer listener binds to.", valueName: "address"))
    var meshHost = "0.0.0.0"

    @Option(help: "Mesh: the peer listener's port (0 picks a free one; Avahi advertises it).")
    var meshPort = 0

    @Option(name: .customLong("peer"), help: ArgumentHelp("Mesh: a static peer ws://HOST:PORT (repeatable), for networks without mDNS.", valueName: "url"))
    var peers: [String] = []

    @Flag(help: "Mesh: no Avahi; static peers only.")
    var noDiscovery = false

    @Option(help: "Mesh: seconds between heartbeats (a peer silent for two is dropped).")
    var heartbeat: Double = 2

    @Option(help: "Mesh: the most peer links to keep.")
    var maxLinks = 8

    @Option(help: ArgumentHelp("Play a machine whose clock is off: add this many seconds (may be negative) to the node's wall clock, until the server's clock corrects it. For fault-injection tests (scripts/chaos).", valueName: "seconds"))
    var clockOffset: Double = 0

    func run() async throws {
        let servers = server.map { $0.split(separator: ",").map { $0.trimmed }.filter { !$0.isEmpty } } ?? []
        var configuration = SyncConfiguration(databasePath: data, baseURL: servers.first, authToken: token,
                                              collections: collections.split(separator: ",").map { $0.trimmed })
        configuration.otherServerURLs = Array(servers.dropFirst())
        configuration.websocketURL = websocketURL
        configuration.enableRealtimeSync = (server != nil || websocketURL != nil) && !noRealtime
        configuration.trustedCertificatesPath = serverCA
        configuration.syncInterval = .milliseconds(Int64(syncInterval * 1000))
        configuration.pingInterval = .milliseconds(Int64(pingInterval * 1000))
        configuration.websocketReconnectDelay = .milliseconds(Int64(reconnectDelay * 1000))
        if mesh {
            var meshConfiguration = MeshConfiguration(teamID: team, host: meshHost, port: meshPort, staticPeers: peers, discovery: !noDiscovery)
            meshConfiguration.heartbeatInterval = .milliseconds(Int64(heartbeat * 1000))
            meshConfiguration.maxLinks = maxLinks
            if let teamSecretFile {
                guard let text = try? String(contentsOfFile: teamSecretFile, encoding: .utf8) else {
                    throw ValidationError("--team-secret-file: cannot read \(teamSecretFile)")
                }
                meshConfiguration.teamSecret = text.trimmed(where: \.isNewline)
            }
            configuration.mesh = meshConfiguration
        }
        // The node's own registry: its histograms are recorded here, /metrics reads it.
        let metrics = MetricsRegistry()
        configuration.metricsFactory = metrics.factory
        guard let durability = Durability(rawValue: durability) else { throw ValidationError("--durability is processCrash or powerLoss") }
        configuration.durability = durability
        var logger = Logger(label: "synclayer.node")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let node: SyncNode
        do {
            let clock = SystemWallClock()
            clock.offsetMillis = Int64(clockOffset * 1000)
            node = try await SyncNode.open(configuration, logger: logger, clock: clock)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        let controlServer = ControlServer(node: node, port: control, metrics: metrics, logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(services: [node, controlServer], gracefulShutdownSignals: [.sigterm, .sigint],
                                                           logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        let group = ServiceGroup(configuration: groupConfiguration)
        async let running: Void = group.run()
        if let port = await controlServer.waitUntilRunning() {
            LineWriter().line("control http://127.0.0.1:\(port)")
        }
        if let port = await node.waitUntilMeshListening() {
            LineWriter().line("mesh ws://\(meshHost):\(port)/mesh")
        }
        try await running
        await node.close()
    }
}
