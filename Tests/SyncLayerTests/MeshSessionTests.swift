@testable import SyncLayer
import SyncCore
import SyncStore
import SyncTesting
import Testing
import WSCore

@Suite struct MeshSessionTests {
    @Test func anInboundLinkWaitsForThePeerThenRegistersItAndAppliesOnlySignedRelays() async throws {
        try await withTemporaryDirectory(prefix: "mesh-session") { directory in
            var configuration = SyncConfiguration(databasePath: directory.file("node.sqlite"), collections: ["todos"])
            configuration.mesh = MeshConfiguration(teamID: "field", host: "127.0.0.1", port: 0, discovery: false)
            let node = try await SyncNode.open(configuration)
            defer { Task { await node.close() } }
            let mesh = try #require(node.mesh)
            let link = try #require(mesh.openLink(direction: .inbound, address: "127.0.0.1"))
            let channel = InMemoryMessageChannel()
            let running = Task { try await MeshSession(mesh: mesh, link: link, abort: { channel.endInput() }).run(connection: channel) }
            var frames = channel.written.makeAsyncIterator()

            // The accepting side writes nothing until the dialer spoke; then its own peerHello.
            let peer = ChangeSigner()
            channel.deliver(.peerHello(PeerHello(nodeID: peer.nodeID, team: "field", uplink: false, vector: VersionVector())))
            guard case .peerHello(let hello) = try await next(&frames) else { Issue.record("no peerHello"); return }
            #expect(hello.nodeID == node.nodeID && hello.team == "field")
            #expect(mesh.isLinked(peer.nodeID))

            // A relayed change signed by its origin is applied; one altered on the way is refused.
            let origin = ChangeSigner()
            let signed = origin.signingOwn(Change(id: ChangeID(origin: origin.nodeID, seq: 1), hlc: HLCTimestamp(wallMillis: 1_000),
                                                  collection: "todos", recordID: "good", kind: .insert, fields: ["text": "signed"]))
            var altered = origin.signingOwn(Change(id: ChangeID(origin: origin.nodeID, seq: 2), hlc: HLCTimestamp(wallMillis: 1_001),
                                                   collection: "todos", recordID: "bad", kind: .insert, fields: ["text": "original"]))
            altered = Change(id: altered.id, hlc: altered.hlc, collection: altered.collection, recordID: altered.recordID, kind: altered.kind,
                             fields: ["text": "altered"], signature: altered.signature)
            channel.deliver(.relay(RelayBatch(changes: [ChangeMessage(relaying: signed, acknowledged: false),
                                                        ChangeMessage(relaying: altered, acknowledged: false)], hops: 1)))
            let applied = try await waitUntil(node, timeout: .seconds(10)) { try await node.collection("todos").get("good") != nil }
            #expect(applied)
            #expect(try await node.collection("todos").get("bad") == nil)
            #expect(node.metrics().changesRefused == 1)

            running.cancel()
            _ = try? await running.value
            #expect(!mesh.isLinked(peer.nodeID), "the link is gone with its session")
        }
    }
}
