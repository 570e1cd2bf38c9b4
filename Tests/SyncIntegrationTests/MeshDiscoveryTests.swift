import Foundation
import SyncLayer
import SyncTesting
import Testing
import SyncCore

/// Nodes that find each other through a real avahi-daemon alone (no static peers, no server).
/// Runs under `scripts/with-avahi` (which `scripts/test` uses): a private network namespace with
/// only `lo`, its own dbus-daemon and an avahi-daemon confined to `lo`.
@Suite(.timeLimit(.minutes(2)), .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["AVAHI_DAEMON_CONF"] != nil, "needs the avahi-daemon of scripts/with-avahi"))
struct MeshDiscoveryTests {
    static func openNode(_ directory: TemporaryDirectory, _ name: String, team: String) async throws -> TestNode {
        try await TestNode.start(path: directory.file("\(name).sqlite"), baseURL: nil) { configuration in
            var mesh = MeshConfiguration(teamID: team, host: "127.0.0.1")
            mesh.heartbeatInterval = .milliseconds(300)
            configuration.mesh = mesh
        }
    }

    @Test func nodesDiscoverEachOtherByAvahiAloneAndRelay() async throws {
        try await withTemporaryDirectory(prefix: "mesh-avahi") { directory in
            let team = "avahi-\(UUID().uuidString.prefix(8))"
            var opened: [TestNode] = []
            for name in ["a", "b", "c"] { opened.append(try await Self.openNode(directory, name, team: team)) }
            // A node of another team on the same LAN: seen by Avahi, never linked.
            let stranger = try await Self.openNode(directory, "stranger", team: "other-\(team)")
            let nodes = opened.map(\.node)
            let ids = Set(nodes.map(\.nodeID))
            for node in nodes {
                let linked = await waitForPeers(node, ids.subtracting([node.nodeID]), timeout: .seconds(30))
                #expect(linked, "\(node.nodeID) links to both others through Avahi: \(String(describing: node.meshStatus))")
                #expect(node.meshStatus?.discovery == "running")
            }
            let watch = nodes[2].collection("todos").watch()
            try await nodes[0].collection("todos").save(["text": "found by mDNS"], id: "m1")
            let seen = try await firstMatch(watch) { $0.contains { $0.id == "m1" } }
            #expect(seen?.first?.data == ["text": "found by mDNS"])
            #expect(try await waitUntil(nodes[1]) { try await nodes[1].collection("todos").get("m1") != nil })
            #expect(try await stranger.node.collection("todos").get("m1") == nil)
            #expect(stranger.node.meshStatus?.peers.isEmpty == true)
            for node in opened + [stranger] { await node.stop() }
        }
    }
}
