import SyncCore
import SyncStore
import SyncLayer
import SyncServer
import SyncTesting
import Testing

/// What a node tells about where its changes came from and about its links, for the console
/// (Docs/Console.md): each applied change's origin in its events, the link's state since when and
/// the server in use, and per peer whether the link is encrypted and how many changes crossed it.
@Suite(.timeLimit(.minutes(3)), .serialized) struct ChangeOriginTests {
    /// The first event of `events` that `matches`; `nil` if the stream ends first.
    static func first(_ events: AsyncStream<SyncEvent>, _ matches: (SyncEvent) -> Bool) async -> SyncEvent? {
        for await event in events where matches(event) { return event }
        return nil
    }

    static func applied(_ record: String) -> (SyncEvent) -> Bool {
        { $0.kind == .changeApplied && $0.recordID == record }
    }

    @Test func everyAppliedChangeSaysWhetherItIsLocalFromTheServerOrFromWhichPeer() async throws {
        try await withTemporaryDirectory(prefix: "origin") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            let b = try await MeshTests.startMeshNode(directory, name: "b", serverPort: server.port, secret: "a team secret of 16+ bytes")
            let a = try await MeshTests.startMeshNode(directory, name: "a", serverPort: server.port, peers: [b.meshPort],
                                                      secret: "a team secret of 16+ bytes")
            for node in [a, b] { await node.test.waitUntilConnected() }
            #expect(await waitForPeers(a.node, [b.node.nodeID], uplink: true))
            #expect(a.node.serverURL == "http://127.0.0.1:\(a.proxy.port)")

            // A local write, and the same change on the other node, from the server.
            let aEvents = a.node.events(), bEvents = b.node.events()
            try await a.todos.save(["text": "online"], id: "online")
            let local = await Self.first(aEvents) { $0.kind == .operationQueued && $0.recordID == "online" }
            #expect(local?.metadata["source"] == "local")
            let fromServer = await Self.first(bEvents, Self.applied("online"))
            #expect(fromServer?.metadata["source"] == "server")
            #expect(fromServer?.collection == "todos")
            #expect(fromServer?.metadata["kind"] == "insert")

            // The server cut: the link's state changes (and says since when), and a change from b
            // reaches a from the peer b.
            let cut = a.node.wallClock.nowMillis()
            #expect(a.node.linkStateSince <= cut)
            for node in [a, b] { node.proxy.blackhole() }
            for node in [a, b] { await MeshTests.waitUntilLinkDown(node) }
            #expect(a.node.linkState != .connected)
            #expect(a.node.linkStateSince >= cut)
            #expect(await waitForPeers(a.node, [b.node.nodeID], uplink: false))
            try await b.todos.save(["text": "offline"], id: "offline")
            let fromPeer = await Self.first(aEvents, Self.applied("offline"))
            #expect(fromPeer?.metadata["source"] == "peer")
            #expect(fromPeer?.metadata["peer"] == .string(b.node.nodeID.rawValue))

            // Each side counts the change on its link, which a team secret encrypts.
            let bSeenByA = a.node.meshStatus?.peers.first { $0.nodeID == b.node.nodeID }
            #expect(bSeenByA?.encrypted == true)
            #expect((bSeenByA?.changesReceived ?? 0) >= 1)
            let aSeenByB = b.node.meshStatus?.peers.first { $0.nodeID == a.node.nodeID }
            #expect((aSeenByB?.changesSent ?? 0) >= 1)
            for node in [a, b] { await node.stop() }
            await server.stop()
        }
    }
}
