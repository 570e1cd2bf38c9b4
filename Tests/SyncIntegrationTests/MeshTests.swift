import Foundation
import SyncLayer
import SyncServer
import SyncTesting
import Testing
import SyncCore

/// Nodes on the LAN mesh, on loopback, linked by static peers (no Avahi needed): relay with the
/// server cut off, two hops away, the gateway, no mesh traffic while everyone has the server,
/// reconciliation exactly once, team admission and heartbeats.
@Suite(.timeLimit(.minutes(3)), .serialized) struct MeshTests {
    /// A mesh node whose server link goes through its own proxy, so a test can cut it silently.
    struct MeshNode {
        let test: TestNode
        let proxy: TCPProxy
        let meshPort: Int
        var node: SyncNode { test.node }
        var todos: CollectionReference { test.node.collection("todos") }

        func stop() async {
            await test.stop()
            await proxy.stop()
        }
    }

    struct ListenerDidNotStart: Error, CustomStringConvertible {
        let node: String
        var description: String { "\(node)'s mesh listener did not start" }
    }

    static func startMeshNode(_ directory: TemporaryDirectory, name: String, serverPort: Int, team: String = "field",
                              peers: [Int] = [], heartbeat: Duration = .milliseconds(200),
                              gatewayGrace: Duration = .milliseconds(300), secret: String? = nil) async throws -> MeshNode {
        let proxy = try await TCPProxy.start(targetPort: serverPort)
        // The listener takes a port the kernel picks as it binds: a port found free beforehand can
        // be taken (by another connection's local end) before the node binds it, and the node
        // then runs without a listener, so that no peer ever links to it.
        let test = try await TestNode.start(path: directory.file("\(name).sqlite"), baseURL: "http://127.0.0.1:\(proxy.port)") {
            $0.pingInterval = .milliseconds(250)
            $0.syncInterval = .milliseconds(500)
            var mesh = MeshConfiguration(teamID: team, host: "127.0.0.1", port: 0,
                                         staticPeers: peers.map { "ws://127.0.0.1:\($0)" }, discovery: false)
            mesh.heartbeatInterval = heartbeat
            mesh.gatewayGrace = gatewayGrace
            mesh.teamSecret = secret
            $0.mesh = mesh
        }
        guard let meshPort = await test.node.waitUntilMeshListening() else {
            await test.stop()
            await proxy.stop()
            throw ListenerDidNotStart(node: name)
        }
        return MeshNode(test: test, proxy: proxy, meshPort: meshPort)
    }

    static func waitUntilLinkDown(_ node: MeshNode) async {
        for await state in node.node.linkStates() where state != .connected { return }
    }

    @Test func changesCrossTheMeshWithoutTheServerAndReconcileExactlyOnce() async throws {
        try await withTemporaryDirectory(prefix: "mesh") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            // A line: a — b — c (a and c dial b), so c hears a only through b.
            let b = try await Self.startMeshNode(directory, name: "b", serverPort: server.port)
            let a = try await Self.startMeshNode(directory, name: "a", serverPort: server.port, peers: [b.meshPort])
            let c = try await Self.startMeshNode(directory, name: "c", serverPort: server.port, peers: [b.meshPort])
            let nodes = [a, b, c]
            for node in nodes { await node.test.waitUntilConnected() }
            #expect(await waitForPeers(b.node, [a.node.nodeID, c.node.nodeID], uplink: true))
            #expect(await waitForPeers(a.node, [b.node.nodeID], uplink: true))
            #expect(await waitForPeers(c.node, [b.node.nodeID], uplink: true))

            // Everyone reaches the server: the mesh carries no change. The nodes' events in this
            // phase: a relay is right only if a server link dropped meanwhile (the 250 ms pings of
            // these tests can time out on a loaded machine), and the failure message shows them.
            let events = Locked<[String]>([])
            let recorders = nodes.enumerated().map { index, node in
                Task { for await event in node.node.events() { events.withLock { $0.append("\(["a", "b", "c"][index]): \(event.kind) \(event.metadata)") } } }
            }
            try await a.todos.save(["text": "via the server"], id: "online-1")
            #expect(try await waitUntil(c.node) { try await c.todos.get("online-1") != nil })
            #expect(try await converged(server, nodes.map(\.node)))
            // A server link that dropped just before the recorders started shows as an uplink turning
            // false: the node's own, or a peer's as the other nodes hear it (its realtimeDisconnected
            // came earlier).
            let flapped = events.withLock {
                $0.contains {
                    $0.contains("\(SyncEvent.Kind.realtimeDisconnected)")
                        || ($0.contains("\(SyncEvent.Kind.connectivityChanged)") && $0.contains("\"uplink\": false"))
                }
            }
            #expect(nodes.allSatisfy { $0.node.metrics().changesRelayed == 0 } || flapped,
                    "no change travels over the mesh while all reach the server: relayed \(nodes.map { $0.node.metrics().changesRelayed }), fromPeers \(nodes.map { $0.node.metrics().changesFromPeers }), errors \(nodes.map { $0.node.metrics().errorCounts }) events \(events.withLock { $0 })")
            for recorder in recorders { recorder.cancel() }

            // The server is cut off for everyone (silently: no TCP close).
            for node in nodes { node.proxy.blackhole() }
            for node in nodes { await Self.waitUntilLinkDown(node) }
            #expect(await waitForPeers(b.node, [a.node.nodeID, c.node.nodeID], uplink: false))

            let watchC = c.todos.watch()
            for index in 0..<10 {
                try await a.todos.save(["from": "a", "n": .int(Int64(index))], id: "a-\(index)")
                try await b.todos.save(["from": "b", "n": .int(Int64(index))], id: "b-\(index)")
                try await c.todos.save(["from": "c", "n": .int(Int64(index))], id: "c-\(index)")
            }
            #expect(try await waitUntil(a.node) { try await a.todos.get("b-3") != nil })
            try await a.todos.update("b-3", ["seenBy": "a"])
            #expect(try await waitUntil(c.node) { try await c.todos.get("a-7") != nil })
            try await c.todos.delete("a-7")
            // c sees a's writes two hops away, live.
            let seen = try await firstMatch(watchC) { documents in documents.contains { $0.id == "a-9" } }
            #expect(seen != nil)
            let expectedIDs = Set((0..<10).flatMap { ["a-\($0)", "b-\($0)", "c-\($0)"] }).subtracting(["a-7"]).union(["online-1"])
            for node in nodes {
                // a's update of b-3 travels after its a-9: a node can hold every id before it has it.
                let ok = try await waitUntil(node.node) {
                    guard Set(try await node.todos.getAll().map(\.id)) == expectedIDs else { return false }
                    return try await node.todos.get("b-3")?["seenBy"] == "a"
                }
                let have = Set(try await node.todos.getAll().map(\.id))
                #expect(ok, "every node holds every change made on the LAN; missing \(expectedIDs.subtracting(have).sorted()), extra \(have.subtracting(expectedIDs).sorted())")
                #expect(try await node.todos.get("b-3")?["seenBy"] == "a")
            }
            let digestA = try await a.todos.digest()
            #expect(try await b.todos.digest() == digestA)
            #expect(try await c.todos.digest() == digestA)
            #expect(server.store.head == 1, "nothing reached the server while it was cut off")

            // a regains the server and serves as gateway: c's new write reaches the server through
            // b and a, and a write from the server side reaches c the same way.
            await a.proxy.restore()
            await a.test.waitUntilConnected()
            try await c.todos.save(["from": "c", "late": true], id: "c-late")
            #expect(try await server.waitUntil { try await server.store.changes(after: 0, collections: nil, limit: 10_000).changes.contains { $0.change.recordID == "c-late" } })
            let outsider = try await TestNode.start(path: directory.file("outsider.sqlite"), baseURL: server.baseURL)
            await outsider.waitUntilConnected()
            try await outsider.node.collection("todos").save(["from": "outsider"], id: "from-server")
            #expect(try await waitUntil(c.node) { try await c.todos.get("from-server") != nil }, "the gateway passes the server's changes on")
            // What the server acknowledged to the gateway reaches the cut-off nodes over the mesh:
            // other origins' changes leave their outboxes; their own stay until the server says so.
            for node in [b, c] {
                let onlyOwn = try await waitUntil(node.node) {
                    let outbox = try await node.node.store.outbox(limit: 1_000)
                    return !outbox.isEmpty && outbox.allSatisfy { $0.id.origin == node.node.nodeID }
                }
                let left = try await node.node.store.outbox(limit: 1_000).map(\.id)
                let acked = try await node.node.store.acknowledgedVector()
                #expect(onlyOwn, "\(node.node.nodeID)'s outbox keeps only its own changes while cut off: \(left); a \(a.node.nodeID), b \(b.node.nodeID), c \(c.node.nodeID); acked \(acked)")
            }

            // The server back for everyone: each change on it once, every digest equal.
            await b.proxy.restore()
            await c.proxy.restore()
            #expect(try await converged(server, nodes.map(\.node) + [outsider.node]))
            let total = 1 + 30 + 1 + 1 + 1 + 1 // online-1, 30 saves, update, delete, c-late, from-server
            #expect(server.store.head == UInt64(total), "each change is on the server exactly once")
            await outsider.stop()
            for node in nodes { await node.stop() }
            await server.stop()
        }
    }

    @Test func aNodeOfAnotherTeamCannotLinkOrInject() async throws {
        try await withTemporaryDirectory(prefix: "mesh-team") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            let member = try await Self.startMeshNode(directory, name: "member", serverPort: server.port)
            let stranger = try await Self.startMeshNode(directory, name: "stranger", serverPort: server.port, team: "other", peers: [member.meshPort])
            member.proxy.blackhole()
            stranger.proxy.blackhole()
            await Self.waitUntilLinkDown(member)
            await Self.waitUntilLinkDown(stranger)
            try await stranger.todos.save(["text": "injected"], id: "x")
            // The stranger keeps dialing; give it several attempts, then check nothing got through.
            let refused = await waitForPeers(member.node, [stranger.node.nodeID], timeout: .seconds(2))
            #expect(!refused, "a node of another team never links")
            #expect(try await member.todos.get("x") == nil)
            #expect(member.node.meshStatus?.peers.isEmpty == true)
            await stranger.stop()
            await member.stop()
            await server.stop()
        }
    }

    @Test func aSilentPeerIsDroppedWithinTwoHeartbeats() async throws {
        try await withTemporaryDirectory(prefix: "mesh-silent") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            let b = try await Self.startMeshNode(directory, name: "b", serverPort: server.port, heartbeat: .milliseconds(300))
            // a reaches b through a proxy that can go silent without closing TCP.
            let meshProxy = try await TCPProxy.start(targetPort: b.meshPort)
            let a = try await Self.startMeshNode(directory, name: "a", serverPort: server.port, peers: [meshProxy.port], heartbeat: .milliseconds(300))
            #expect(await waitForPeers(b.node, [a.node.nodeID]))
            #expect(await waitForPeers(a.node, [b.node.nodeID]))
            var events = b.node.events().makeAsyncIterator()
            meshProxy.blackhole()
            // TCP stays open and would not notice for minutes; only the missing heartbeats can tell
            // (the suite's time limit bounds the wait).
            while let event = await events.next(), event.kind != .peerLost {}
            #expect(b.node.meshStatus?.peers.isEmpty == true)
            await meshProxy.restore()
            #expect(await waitForPeers(b.node, [a.node.nodeID]), "the link comes back when the peer is reachable again")
            await a.stop()
            await b.stop()
            await meshProxy.stop()
            await server.stop()
        }
    }

    @Test func aPeerThatStopsReadingIsDroppedInsteadOfPinningMemory() async throws {
        try await withTemporaryDirectory(prefix: "mesh-stalled") { directory in
            // No server: the node relays every write to its peers. Heartbeats are far apart, so
            // only the queue limit can end the link within the test.
            let test = try await TestNode.start(path: directory.file("a.sqlite"), baseURL: nil) {
                var mesh = MeshConfiguration(teamID: "field", host: "127.0.0.1", port: 0, discovery: false)
                mesh.heartbeatInterval = .seconds(60)
                mesh.linkQueueLimit = 500
                $0.mesh = mesh
            }
            let node = test.node
            let port = try #require(await node.waitUntilMeshListening())
            // A team member that says hello and then never reads, on a 4 KB receive buffer.
            let stalled = try await BareWebSocket.connect(port: port, path: "/mesh")
            defer { stalled.close() }
            let hello = PeerHello(nodeID: NodeID("00112233445566778899aabbccddeeff")!, team: "field", uplink: false, vector: VersionVector())
            try await stalled.send(text: FrameCodec().encodeString(.peerHello(hello)))
            #expect(await waitForPeers(node, [hello.nodeID]))
            var events = node.events().makeAsyncIterator()
            // 40 batches of 100 documents of 2 KB (8 MB): far more than the socket buffers hold.
            let padding = String(repeating: "x", count: 2_000)
            for batch in 0..<40 {
                try await node.collection("todos").saveAll((0..<100).map { Document(id: "d\(batch)-\($0)", data: ["text": .string(padding)]) })
            }
            #expect(try await node.collection("todos").count() == 4_000, "writes go on while the peer stalls")
            // The relay reaches the link after the saves return, later still on a loaded machine: the
            // peer must not read before the node has dropped it (reading earlier, it would take
            // everything, as a peer that reads should; seen twice in full-suite runs).
            while let event = await events.next(), event.kind != .peerLost {}
            // The node closed the connection: reading reaches its end after at most what was in
            // flight (the queue limit and the socket buffers), not everything.
            let drained = try await stalled.readAllUntilClosed(limit: 16 << 20).count
            #expect(drained < 8_000_000, "the stalled peer was sent \(drained) bytes before the close")
            #expect(node.metrics().slowPeersDropped == 1)
            #expect(node.meshStatus?.peers.isEmpty == true)
            await test.stop()
        }
    }

    @Test func theServerAcknowledgesWhatANodeHoldsInsteadOfSendingItAgain() async throws {
        try await withTemporaryDirectory(prefix: "mesh-held") { directory in
            // No server yet: the nodes' proxies forward to a port that refuses, and to the server's
            // once it has one.
            let nowhere = try RefusingLoopbackPort()
            defer { nowhere.close() }
            // b would be a's gateway only after a minute: within this test it never uploads a's changes.
            let b = try await Self.startMeshNode(directory, name: "b", serverPort: nowhere.port, gatewayGrace: .seconds(60))
            // a reaches b through a proxy, so the test can end their link before the server comes.
            let meshProxy = try await TCPProxy.start(targetPort: b.meshPort)
            let a = try await Self.startMeshNode(directory, name: "a", serverPort: nowhere.port, peers: [meshProxy.port])
            #expect(await waitForPeers(b.node, [a.node.nodeID]))
            // With no server anywhere, a's writes reach b over the mesh.
            for index in 0..<10 { try await a.todos.save(["n": .int(Int64(index))], id: "a-\(index)") }
            #expect(try await waitUntil(b.node) { try await b.todos.count() == 10 })
            // From here on whatever b receives comes from the server.
            await meshProxy.stop()
            #expect(await waitForPeers(b.node, []))
            let fromMesh = b.node.metrics().duplicatesDropped

            // The server comes up; only b reaches it. b holds a's changes, waiting for their upload.
            a.proxy.blackhole()
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            a.proxy.retarget(to: server.port)
            b.proxy.retarget(to: server.port)
            b.node.connect()
            await b.test.waitUntilConnected()
            #expect(try await b.node.store.outboxCount() == 10)
            // A poll over REST now, as one retrying an earlier failure would with the link up, leaves
            // them to the session's gateway and its wait.
            #expect(await b.node.syncNow())
            #expect(try await b.node.store.outboxCount() == 10)
            #expect(try await server.store.changeCount() == 0)

            // a reaches the server and uploads its own changes: the server does not send them to b,
            // which holds them, but tells b it has them (a `held` range in an ack).
            await a.proxy.restore()
            a.node.connect()
            await a.test.waitUntilConnected()
            #expect(try await waitUntil(b.node) { try await b.node.store.outboxCount() == 0 }, "b learns the server holds a's changes")
            #expect(b.node.metrics().duplicatesDropped == fromMesh, "the server sent b nothing it already held")
            let (status, metrics) = try await HTTPHelper.get("\(server.baseURL)/metrics.json")
            #expect(status == 200)
            // The store, not the counter: the connection counts a commit only after the hub has
            // published it, so b can see the ack before the counter moves.
            #expect(try await server.store.changes(after: 0, collections: ["todos"]).changes.count == 10)
            #expect(metrics?["duplicatesDropped"] == .int(0), "each change was uploaded once (no second push over REST)")
            // a sent its ten in a `changes` frame with one code of its frame key over them, and no
            // change's own signature was checked (Docs/Security.md, "Frame keys").
            #expect((metrics?["frameCodesChecked"]?.intValue ?? 0) >= 1, "\(String(describing: metrics))")
            #expect(metrics?["changeSignaturesChecked"] == .int(0), "\(String(describing: metrics))")
            await a.stop()
            await b.stop()
            await server.stop()
        }
    }

    static let secret = "correct horse battery staple"

    @Test func aNodeWithTheWrongSecretCannotLinkInjectOrRead() async throws {
        try await withTemporaryDirectory(prefix: "mesh-secret") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            let member = try await Self.startMeshNode(directory, name: "member", serverPort: server.port, secret: Self.secret)
            // Same team id, wrong secret; and a node of the team id without any secret.
            let stranger = try await Self.startMeshNode(directory, name: "stranger", serverPort: server.port, peers: [member.meshPort],
                                                        secret: "a guess at the team's secret")
            let clear = try await Self.startMeshNode(directory, name: "clear", serverPort: server.port, peers: [member.meshPort])
            for node in [member, stranger, clear] {
                node.proxy.blackhole()
                await Self.waitUntilLinkDown(node)
            }
            try await member.todos.save(["text": "for the team only"], id: "private")
            try await stranger.todos.save(["text": "injected"], id: "x")
            try await clear.todos.save(["text": "injected in clear"], id: "y")
            // Both keep dialing: give them several attempts, each refused at its first frame.
            let linked = await waitForPeers(member.node, [stranger.node.nodeID], timeout: .seconds(2))
            #expect(!linked, "a node without the team secret never links")
            #expect(member.node.meshStatus?.peers.isEmpty == true)
            #expect(member.node.metrics().framesRejected > 0, "the refused frames are counted")
            #expect(try await member.todos.get("x") == nil)
            #expect(try await member.todos.get("y") == nil)
            #expect(try await stranger.todos.get("private") == nil)
            #expect(try await clear.todos.get("private") == nil)
            for node in [clear, stranger, member] { await node.stop() }
            await server.stop()
        }
    }

    @Test func aRelayThatAltersOrForgesAChangeIsRefusedEverywhere() async throws {
        try await withTemporaryDirectory(prefix: "mesh-forgery") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            // origin writes alone; b is dialed by the rogue relay; c hears only through b.
            let origin = try await Self.startMeshNode(directory, name: "origin", serverPort: server.port)
            let b = try await Self.startMeshNode(directory, name: "b", serverPort: server.port)
            let c = try await Self.startMeshNode(directory, name: "c", serverPort: server.port, peers: [b.meshPort])
            for node in [origin, b, c] {
                node.proxy.blackhole()
                await Self.waitUntilLinkDown(node)
            }
            #expect(await waitForPeers(b.node, [c.node.nodeID]))
            try await origin.todos.save(["text": "meet at gate 4"], id: "plan")
            let written = try #require(try await origin.node.store.outbox().first)
            let genuine = origin.node.store.signer.signingOwn(written)
            // What a member relaying origin's change could do: alter it, keeping the signature; make
            // one up in origin's name, unsigned; or sign one in origin's name with its own key.
            let rogueKey = ChangeSigner()
            let altered = Change(id: genuine.id, hlc: genuine.hlc, collection: "todos", recordID: "plan", kind: .insert,
                                 fields: ["text": "meet at gate 9"], signature: genuine.signature)
            let unsigned = Change(id: ChangeID(origin: origin.node.nodeID, seq: 2), hlc: genuine.hlc, collection: "todos",
                                  recordID: "made-up", kind: .insert, fields: ["text": "forged"])
            var signedByRogue = Change(id: ChangeID(origin: origin.node.nodeID, seq: 3), hlc: genuine.hlc, collection: "todos",
                                       recordID: "made-up-2", kind: .insert, fields: ["text": "forged"])
            signedByRogue.signature = rogueKey.signature(for: signedByRogue)

            let codec = FrameCodec()
            let rogue = try await RawWebSocket.connect("ws://127.0.0.1:\(b.meshPort)/mesh")
            try await rogue.send(codec.encodeString(.peerHello(PeerHello(nodeID: rogueKey.nodeID, team: "field", uplink: false,
                                                                         vector: VersionVector()))))
            let forgeries = [altered, unsigned, signedByRogue].map { ChangeMessage(relaying: $0, acknowledged: false) }
            try await rogue.send(codec.encodeString(.relay(RelayBatch(changes: forgeries, hops: 1))))
            // Then the genuine change, as an honest relay would pass it: accepted, so the forged copy
            // of the same id did not take its place.
            try await rogue.send(codec.encodeString(.relay(RelayBatch(changes: [ChangeMessage(relaying: genuine, acknowledged: false)],
                                                                      hops: 1))))
            for node in [b, c] {
                #expect(try await waitUntil(node.node) { try await node.todos.get("plan") != nil }, "the genuine change arrives")
                #expect(try await node.todos.get("plan")?["text"] == "meet at gate 4", "the altered copy was not applied")
                let madeUp = try await node.todos.get("made-up"), madeUp2 = try await node.todos.get("made-up-2")
                #expect(madeUp == nil && madeUp2 == nil, "nothing forged is stored")
            }
            #expect(b.node.metrics().changesRefused == 3, "b refused and counted each forgery")
            #expect(c.node.metrics().changesRefused == 0, "b passed none of them on")
            // Healed: the server ends with origin's change once and nothing forged.
            for node in [origin, b, c] { await node.proxy.restore() }
            #expect(try await server.waitUntil {
                let ids = try await server.store.changes(after: 0, collections: ["todos"]).changes.map(\.change.id)
                return ids == [genuine.id]
            })
            let onServer = try await server.store.get(collection: "todos", id: "plan")
            #expect(onServer?.data["text"] == "meet at gate 4")
            await rogue.close()
            for node in [c, b, origin] { await node.stop() }
            await server.stop()
        }
    }

    @Test func meshTrafficWithASecretCarriesNoDocumentInClear() async throws {
        try await withTemporaryDirectory(prefix: "mesh-capture") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            // The same exchange with and without a secret, each captured on the wire between a and b.
            for secret in [Self.secret, nil] {
                let name = secret == nil ? "clear" : "sealed"
                let b = try await Self.startMeshNode(directory, name: "\(name)-b", serverPort: server.port, team: name, secret: secret)
                let capture = try await TCPProxy.start(targetPort: b.meshPort, recording: true)
                let a = try await Self.startMeshNode(directory, name: "\(name)-a", serverPort: server.port, team: name,
                                                     peers: [capture.port], secret: secret)
                a.proxy.blackhole()
                b.proxy.blackhole()
                await Self.waitUntilLinkDown(a)
                await Self.waitUntilLinkDown(b)
                #expect(await waitForPeers(b.node, [a.node.nodeID]))
                // Written on b, the listener: WebSocket masks what a client (the dialer) sends, so
                // only this direction would show text in clear to a plain search.
                let marker = "blood type AB-negative, room 4\(name)"
                try await b.todos.save(["note": .string(marker)], id: "patient-\(name)")
                #expect(try await waitUntil(a.node) { try await a.todos.get("patient-\(name)")?["note"] == .string(marker) },
                        "the document crosses the mesh")
                let wire = capture.recorded
                let inClear = wire.firstRange(of: Array(marker.utf8)) != nil
                if secret == nil {
                    #expect(inClear, "without a secret the capture shows the document (so the capture works)")
                } else {
                    #expect(!inClear, "with the team secret no document content crosses the wire in clear")
                    #expect(wire.firstRange(of: Array("patient-sealed".utf8)) == nil, "nor its id")
                    #expect(wire.count > 1_000, "the capture saw the link's traffic (\(wire.count) bytes)")
                }
                await a.stop()
                await b.stop()
                await capture.stop()
            }
            await server.stop()
        }
    }
}
