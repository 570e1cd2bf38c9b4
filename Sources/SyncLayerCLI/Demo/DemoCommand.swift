import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ServiceLifecycle
import SyncDiscovery
import SyncLayer
import SyncServer
import SyncCore
import SyncStore
import SyncTelemetry

/// The product in one run: a server and a team of nodes on a LAN mesh; the server goes away, the
/// nodes keep writing and converge over the mesh, the server returns and everything reconciles.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a server and a team of nodes on a LAN mesh; cut the server off, write everywhere, reconcile.",
        discussion: """
            Everything runs on loopback in a temporary folder that is removed afterwards. The nodes find \
            each other through Avahi when a daemon is reachable (scripts/demo runs one confined to lo in \
            a private network namespace); otherwise they link as static peers, and the demo says so. \
            Exits non-zero if the nodes do not converge to the server's state.
            """)

    @Option(help: "How many nodes.")
    var nodes = 4

    @Option(help: "Documents each node writes while the server is away.")
    var writes = 5

    @Flag(help: "Link the nodes as static peers even if Avahi is reachable.")
    var noAvahi = false

    @Option(help: "Keep the nodes and their consoles up this many seconds at the end (at most 3600).")
    var hold = 0

    func run() async throws {
        guard (2...8).contains(nodes) else { throw ValidationError("--nodes is between 2 and 8") }
        guard (0...3600).contains(hold) else { throw ValidationError("--hold is between 0 and 3600 seconds") }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("synclayer-demo-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let out = LineWriter()
        let team = "demo-\(UUID().uuidString.prefix(6).lowercased())"

        // 1. The server and the nodes.
        var server = DemoServer(path: "\(folder)/server.sqlite", port: 0)
        let port = try await server.start()
        let avahi = !noAvahi && Self.avahiReachable()
        out.line("== 1. Server on 127.0.0.1:\(port); \(nodes) nodes of team \(team) on the mesh, " +
                 (avahi ? "finding each other through Avahi" : noAvahi ? "linked as static peers (--no-avahi)" : "linked as static peers (no Avahi daemon reachable)"))
        var launched: [DemoNode] = []
        for index in 0..<nodes {
            let name = "field-\(index + 1)"
            var configuration = SyncConfiguration(databasePath: "\(folder)/\(name).sqlite", baseURL: "http://127.0.0.1:\(port)", collections: ["todos"])
            configuration.enableRealtimeSync = true
            configuration.websocketReconnectDelay = .milliseconds(300)
            configuration.maxWebsocketReconnectAttempts = 3
            configuration.syncInterval = .seconds(1)
            configuration.pingInterval = .seconds(1)
            var staticPeers: [String] = []
            if !avahi, let previous = launched.last, let port = await previous.node.waitUntilMeshListening() {
                staticPeers = ["ws://127.0.0.1:\(port)"]
            }
            var mesh = MeshConfiguration(teamID: team, host: "127.0.0.1", staticPeers: staticPeers, discovery: avahi)
            mesh.heartbeatInterval = .milliseconds(500)
            mesh.instanceName = "synclayer-\(name)"
            configuration.mesh = mesh
            launched.append(try await DemoNode.start(name: name, configuration: configuration))
        }
        let all = launched
        let started = ContinuousClock.now
        try await Self.until("every node online and linked to a peer", timeout: .seconds(30)) {
            // Online, linked, and each knowing its peers are online too (else it relays to them).
            all.allSatisfy { member in
                guard member.node.linkState == .connected, let mesh = member.node.meshStatus else { return false }
                return mesh.uplink && !mesh.peers.isEmpty && mesh.peers.allSatisfy(\.uplink)
            }
        }
        out.line("   all nodes connected to the server and linked on the mesh after \(Self.format(ContinuousClock.now - started))")
        for member in all { out.line("   \(member.name)  node \(member.node.nodeID.rawValue.prefix(8))  mesh peers: \(Self.peerNames(member, all))") }
        out.line("   consoles (open them while the demo runs): " + all.map { "\($0.name) \($0.consoleURL)" }.joined(separator: "  "))

        // 2. Everyone online: changes go through the server, the mesh carries none.
        try await all[0].todos.save(["text": "Check the generator", "done": false, "by": .string(all[0].name)], id: "online-1")
        try await Self.until("the online write everywhere", timeout: .seconds(20)) {
            for member in all where try await member.todos.get("online-1") == nil { return false }
            return true
        }
        let relayedOnline = all.map { $0.node.metrics().changesRelayed }.reduce(0, +)
        out.line("== 2. Everyone reaches the server: a write on \(all[0].name) reached every node through it; changes relayed over the mesh: \(relayedOnline)")

        // 3. The server goes away; everyone keeps writing; changes cross the LAN live.
        await server.stop()
        try await Self.until("every node to notice the server is gone", timeout: .seconds(20)) {
            all.allSatisfy { $0.node.linkState != .connected && $0.node.meshStatus?.uplink == false }
        }
        out.line("== 3. The server is DOWN. Every node keeps writing; watch \(all.last!.name) receive them over the mesh:")
        let observer = all.last!
        let live = Task {
            var seen = Set<String>()
            for try await documents in observer.todos.watch() {
                for document in documents where !seen.contains(document.id) {
                    seen.insert(document.id)
                    if let by = document["by"]?.stringValue, by != observer.name, document.id != "online-1" {
                        out.line("   \(observer.name) <- \(document.id) from \(by): \(document["text"]?.stringValue ?? "")")
                    }
                }
            }
        }
        var written = 1
        for round in 0..<writes {
            for member in all {
                try await member.todos.save(["text": .string("Reading \(round + 1) at post \(member.name)"), "done": false, "by": .string(member.name)],
                                            id: "\(member.name)-\(round + 1)")
                written += 1
            }
        }
        try await Self.until("the first offline write everywhere", timeout: .seconds(20)) {
            for member in all where try await member.todos.get("\(all[0].name)-1") == nil { return false }
            return true
        }
        try await all[1].todos.update("\(all[0].name)-1", ["done": true])
        try await all[0].todos.delete("\(all[1].name)-\(writes)")
        written += 2
        try await Self.until("the mesh to converge", timeout: .seconds(30)) {
            let digests = try await all.asyncMap { try await $0.todos.digest().digest }
            return Set(digests).count == 1
        }
        live.cancel()
        let meshCount = try await all[0].todos.count()
        out.line("   the team converged without the server: \(meshCount) documents on every node; changes relayed: \(all.map { $0.node.metrics().changesRelayed }.reduce(0, +))")

        // 4. The server returns: reconciliation.
        server = DemoServer(path: "\(folder)/server.sqlite", port: port)
        _ = try await server.start()
        let back = ContinuousClock.now
        out.line("== 4. The server is BACK on the same port; reconciling…")
        try await Self.until("every node to reconcile with the server", timeout: .seconds(60)) {
            guard let store = server.store else { return false }
            let expected = try await store.digest(collection: "todos")
            for member in all {
                guard member.node.linkState == .connected, try await member.node.store.outboxCount() == 0,
                      try await member.todos.digest() == expected else { return false }
            }
            return true
        }
        out.line("   reconciled in \(Self.format(ContinuousClock.now - back))")

        // 5. The table.
        let store = server.store!
        let serverDigest = try await store.digest(collection: "todos")
        out.line("== 5. Every node against the server")
        out.line("   node      link        peers  docs  outbox  digest")
        var allEqual = true
        for member in all {
            let digest = try await member.todos.digest()
            allEqual = allEqual && digest == serverDigest
            out.line("   \(member.name.rightPad(8))  \(member.node.linkState.rawValue.rightPad(10))  " +
                     "\(String(member.node.meshStatus?.peers.count ?? 0).leftPad(5))  \(String(digest.count).leftPad(4))  " +
                     "\(String(try await member.node.store.outboxCount()).leftPad(6))  \(digest.digest.prefix(16))")
        }
        out.line("   server    -           -      \(String(serverDigest.count).leftPad(4))  -       \(serverDigest.digest.prefix(16))")
        let onServer = store.head
        out.line("   changes made: \(written); changes on the server: \(onServer) (each once: \(onServer == UInt64(written) ? "yes" : "NO"))")
        if hold > 0 {
            out.line("   holding \(hold) s: consoles " + all.map(\.consoleURL).joined(separator: " "))
            try? await Task.sleep(for: .seconds(hold))
        }
        for member in all { await member.stop() }
        await server.stop()
        guard allEqual, onServer == UInt64(written) else {
            out.line("== FAILED: the nodes did not converge to the server's state")
            throw ExitCode(1)
        }
        out.line("== done: every digest equals the server's; nothing lost, nothing duplicated")
    }

    static func peerNames(_ member: DemoNode, _ all: [DemoNode]) -> String {
        let ids = Set(member.node.meshStatus?.peers.map(\.nodeID) ?? [])
        return all.filter { ids.contains($0.node.nodeID) }.map(\.name).joined(separator: ", ")
    }

    static func avahiReachable() -> Bool {
        let probe = AvahiDiscovery(advertisement: ServiceAdvertisement(instanceName: "synclayer-probe", port: 9, txt: ["node": "probe"]), ipFamily: .ipv4)
        defer { probe.stop() }
        do { try probe.start() } catch { return false }
        return true
    }

    /// Polls `condition` every 50 ms until it holds; throws after `timeout`.
    static func until(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        LineWriter().line("== FAILED: waited \(timeout) for \(what)")
        throw ExitCode(1)
    }

    static func format(_ duration: Duration) -> String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return millis < 1000 ? "\(millis) ms" : "\(millis / 1000).\(millis % 1000 < 100 ? "0" : "")\(millis % 1000 / 10) s"
    }
}

/// A node of the demo, running in the background.
struct DemoNode: Sendable {
    let name: String
    let node: SyncNode
    let task: Task<Void, any Error>
    /// Its control endpoint with the console, as `synclayer node` has (loopback, a free port), in a
    /// service group of its own so that it stops gracefully (open consoles are told, not cut).
    let console: ServiceGroup
    let consoleTask: Task<Void, any Error>
    let consoleURL: String
    var todos: CollectionReference { node.collection("todos") }

    static func start(name: String, configuration: SyncConfiguration) async throws -> DemoNode {
        var configuration = configuration
        let metrics = MetricsRegistry()
        configuration.metricsFactory = metrics.factory
        let node = try await SyncNode.open(configuration, logger: quietLogger())
        let control = ControlServer(node: node, port: 0, metrics: metrics, logger: quietLogger())
        let console = ServiceGroup(configuration: .init(services: [control], logger: quietLogger()))
        let consoleTask = Task { try await console.run() }
        let port = await control.waitUntilRunning() ?? 0
        return DemoNode(name: name, node: node, task: Task { try await node.run() }, console: console, consoleTask: consoleTask,
                        consoleURL: "http://127.0.0.1:\(port)/")
    }

    func stop() async {
        await console.triggerGracefulShutdown()
        _ = try? await consoleTask.value
        task.cancel()
        _ = try? await task.value
        await node.close()
    }
}

/// The demo's server, which it stops and starts again on the same port and database.
struct DemoServer {
    let path: String
    let port: Int
    private var server: SyncServer?
    private var group: ServiceGroup?
    private var task: Task<Void, any Error>?

    init(path: String, port: Int) {
        self.path = path
        self.port = port
    }

    var store: (any ServerStorage)? { server?.store }

    mutating func start() async throws -> Int {
        let server = SyncServer(configuration: ServerConfiguration(databasePath: path, port: port), logger: quietLogger())
        let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger()))
        task = Task { try await group.run() }
        self.group = group
        self.server = server
        guard let port = await server.waitUntilRunning() else {
            throw ValidationError("the server did not start on port \(port)")
        }
        return port
    }

    /// Graceful shutdown: connections close, the database closes.
    func stop() async {
        await group?.triggerGracefulShutdown()
        _ = try? await task?.value
    }
}

extension Array where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
