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

    /// A peer whose connection takes nothing more: the frames handed to the connection still count
    /// against the link's bound until the connection has taken them, so the link overflows and is
    /// dropped instead of piling frames up in front of the socket (a connection's write returns
    /// before its event loop has written anything).
    @Test func framesCountAgainstTheLinkUntilTheConnectionHasTakenThem() async throws {
        try await withTemporaryDirectory(prefix: "mesh-stall") { directory in
            var configuration = SyncConfiguration(databasePath: directory.file("node.sqlite"), collections: ["todos"])
            var meshConfiguration = MeshConfiguration(teamID: "field", host: "127.0.0.1", port: 0, discovery: false)
            meshConfiguration.linkQueueLimit = 500
            configuration.mesh = meshConfiguration
            let node = try await SyncNode.open(configuration)
            defer { Task { await node.close() } }
            let mesh = try #require(node.mesh)
            let link = try #require(mesh.openLink(direction: .inbound, address: "127.0.0.1"))
            let channel = InMemoryMessageChannel(stalled: true)
            let aborted = Locked(false)
            let running = Task {
                try await MeshSession(mesh: mesh, link: link, abort: { aborted.withLock { $0 = true }; channel.endInput() }).run(connection: channel)
            }
            var frames = channel.written.makeAsyncIterator()
            let peer = ChangeSigner()
            channel.deliver(.peerHello(PeerHello(nodeID: peer.nodeID, team: "field", uplink: false, vector: VersionVector())))
            guard case .peerHello = try await next(&frames) else { Issue.record("no peerHello"); return }
            #expect(mesh.isLinked(peer.nodeID))
            // Ten relay frames of 100 changes for a limit of 500, the writer free to run between them;
            // the connection took nothing after the node's peerHello.
            let origin = ChangeSigner()
            for batch in 0..<10 {
                let changes = (1...100).map { index in
                    ChangeInTransit(origin.signingOwn(Change(id: ChangeID(origin: origin.nodeID, seq: UInt64(batch * 100 + index)),
                                                             hlc: HLCTimestamp(wallMillis: 1_000 + UInt64(index)), collection: "todos",
                                                             recordID: "r\(batch)-\(index)", kind: .insert, fields: ["n": .int(Int64(index))])),
                                    acknowledged: false)
                }
                mesh.forward(changes, hops: 1, except: [])
                await Task.yield()
            }
            _ = try? await running.value
            #expect(link.overflowed, "more than 500 changes waited for the peer")
            #expect(node.metrics().slowPeersDropped == 1)
            #expect(aborted.withLock { $0 }, "the connection was dropped")
            #expect(!mesh.isLinked(peer.nodeID))
        }
    }
}
