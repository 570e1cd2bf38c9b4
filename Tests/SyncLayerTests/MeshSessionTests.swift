@testable import SyncLayer
import SyncCore
import SyncStore
import SyncTesting
import Testing
import WSCore

@Suite struct MeshSessionTests {
    @Test func anInboundLinkWaitsForThePeerThenRegistersItAndAppliesOnlySignedRelays() async throws {
        try await Self.withLinkSession(prefix: "mesh-session", direction: .inbound) { session in
            let (node, mesh, channel) = (session.node, session.mesh, session.channel)
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

            await session.end()
            #expect(!mesh.isLinked(peer.nodeID), "the link is gone with its session")
        }
    }

    /// The node gains the server after its hello is queued on a new link but before the peer's
    /// hello registers the link: the peer is told the new uplink on that link too, not at the next
    /// periodic hello (seconds later, meanwhile relaying by the old state; here the mesh is not
    /// running, so never).
    @Test func aLinkThatRegistersAfterTheUplinkChangedIsToldTheNewUplink() async throws {
        try await Self.withLinkSession(prefix: "mesh-uplink", direction: .outbound) { session in
            let (mesh, channel) = (session.mesh, session.channel)
            var frames = channel.written.makeAsyncIterator()
            guard case .peerHello(let first) = try await next(&frames) else { Issue.record("no peerHello"); return }
            #expect(!first.uplink)

            await mesh.setUplink(true)
            let peer = ChangeSigner()
            channel.deliver(.peerHello(PeerHello(nodeID: peer.nodeID, team: "field", uplink: false, vector: VersionVector())))
            // The session reads in order: what the peer's hello makes it queue comes before the pong.
            channel.deliver(.ping(time: nil))
            var told: [Bool] = []
            reading: while true {
                switch try await next(&frames) {
                case .peerHello(let hello): told.append(hello.uplink)
                case .pong: break reading
                default: continue
                }
            }
            #expect(told == [true], "the peer was told the new uplink once, before the pong (told: \(told))")
            #expect(mesh.isLinked(peer.nodeID))
        }
    }

    /// One link of a mesh node's, served by a ``MeshSession`` over an in-memory connection.
    struct LinkSession {
        let node: SyncNode
        let mesh: Mesh
        let link: MeshLink
        let channel: InMemoryMessageChannel
        let running: Task<Void, any Error>
        /// Whether the session dropped the connection (its `abort`).
        let aborted: Locked<Bool>

        /// Cancels the session and waits for it to end.
        func end() async {
            running.cancel()
            _ = try? await running.value
        }
    }

    /// A node with a mesh on loopback (not running: the test drives one link by hand), `prepare`d,
    /// then one link of `direction` with its session running, for `body`. Afterwards the session
    /// is ended and the node closed (`SyncNode.with`), however `body` ended.
    static func withLinkSession(prefix: String, direction: PeerStatus.Direction, linkQueueLimit: Int? = nil,
                                stalled: Bool = false, prepare: (SyncNode) async throws -> Void = { _ in },
                                _ body: (LinkSession) async throws -> Void) async throws {
        try await withTemporaryDirectory(prefix: prefix) { directory in
            var configuration = SyncConfiguration(databasePath: directory.file("node.sqlite"), collections: ["todos"])
            var meshConfiguration = MeshConfiguration(teamID: "field", host: "127.0.0.1", port: 0, discovery: false)
            if let linkQueueLimit { meshConfiguration.linkQueueLimit = linkQueueLimit }
            // The test plays a peer that speaks only when spoken to: with the default heartbeat (2 s)
            // its silence would end the link after 4 s, which a loaded machine can take to get through
            // a test. Heartbeats are tested over real links (MeshTests).
            meshConfiguration.heartbeatInterval = .seconds(60)
            configuration.mesh = meshConfiguration
            try await SyncNode.with(configuration) { node in
                try await prepare(node)
                let mesh = try #require(node.mesh)
                let link = try #require(mesh.openLink(direction: direction, address: "127.0.0.1"))
                let channel = InMemoryMessageChannel(stalled: stalled)
                let aborted = Locked(false)
                let running = Task {
                    try await MeshSession(mesh: mesh, link: link, abort: {
                        aborted.withLock { $0 = true }
                        channel.endInput()
                        channel.endOutput()
                    }).run(connection: channel)
                }
                let session = LinkSession(node: node, mesh: mesh, link: link, channel: channel, running: running, aborted: aborted)
                do {
                    try await body(session)
                } catch {
                    await session.end()
                    throw error
                }
                await session.end()
            }
        }
    }

    /// A peer far behind (more changes missing than the link's bound) is sent them in parts of half
    /// the bound, each followed by a `peerHello` asking for its vector, instead of all at once (which
    /// overflowed the link and dropped the peer at every attempt on a real connection). This in-memory
    /// connection takes each frame at once, so the old way could win the race against the bound here:
    /// what fails without the parts is their size and the `peerHello`s between them.
    @Test func aPeerFarBehindCatchesUpInPartsInsteadOfBeingDropped() async throws {
        let twelveHundredChanges: (SyncNode) async throws -> Void = { node in
            for batch in 0..<12 {
                try await node.collection("todos").saveAll((0..<100).map { Document(id: "d\(batch)-\($0)", data: ["n": .int(Int64($0))]) })
            }
        }
        try await Self.withLinkSession(prefix: "mesh-behind", direction: .inbound, linkQueueLimit: 100, prepare: twelveHundredChanges) { session in
            let (node, mesh, link, channel) = (session.node, session.mesh, session.link, session.channel)
            var frames = channel.written.makeAsyncIterator()
            let peer = ChangeSigner()
            func hello(holding count: Int) -> Frame {
                .peerHello(PeerHello(nodeID: peer.nodeID, team: "field", uplink: false,
                                     vector: VersionVector(count == 0 ? [:] : [node.nodeID: UInt64(count)])))
            }
            channel.deliver(hello(holding: 0))
            var received = Set<String>(), largest = 0, answers = 0
            // Bounded: 1,200 changes in parts of 50 take 24 parts; each part is a relay and a peerHello.
            for _ in 0..<200 where received.count < 1_200 {
                switch try await next(&frames) {
                case .relay(let batch):
                    largest = max(largest, batch.changes.count)
                    for message in batch.changes { received.insert(try #require(message.changeID).description) }
                case .peerHello(let own) where own.wantsReply:
                    answers += 1
                    channel.deliver(hello(holding: received.count))
                default:
                    break
                }
            }
            #expect(received.count == 1_200, "every change reached the peer")
            #expect(largest <= 50, "no part larger than half the bound (largest \(largest))")
            #expect(answers >= 23)
            #expect(!link.overflowed)
            #expect(node.metrics().slowPeersDropped == 0)
            #expect(mesh.isLinked(peer.nodeID))
        }
    }

    /// A peer whose connection takes nothing more: the frames handed to the connection still count
    /// against the link's bound until the connection has taken them, so the link overflows and is
    /// dropped instead of piling frames up in front of the socket (a connection's write returns
    /// before its event loop has written anything).
    @Test func framesCountAgainstTheLinkUntilTheConnectionHasTakenThem() async throws {
        try await Self.withLinkSession(prefix: "mesh-stall", direction: .inbound, linkQueueLimit: 500, stalled: true) { session in
            let (node, mesh, link, channel) = (session.node, session.mesh, session.link, session.channel)
            var frames = channel.written.makeAsyncIterator()
            let peer = ChangeSigner()
            let events = node.events()
            channel.deliver(.peerHello(PeerHello(nodeID: peer.nodeID, team: "field", uplink: false, vector: VersionVector())))
            guard case .peerHello = try await next(&frames) else { Issue.record("no peerHello"); return }
            // The node's own hello goes out first; it links the peer once it has read the peer's
            // (forwarding before that would find no peer to relay to).
            let linked = await waitForElement(in: events) { $0.kind == .peerConnected }
            #expect(linked && mesh.isLinked(peer.nodeID))
            // Ten relay frames of 100 changes for a limit of 500, the writer free to run between them;
            // the connection took nothing after the node's peerHello. Signed first, so that they
            // follow each other.
            let origin = ChangeSigner()
            let batches = (0..<10).map { batch in
                (1...100).map { index in
                    ChangeInTransit(origin.signingOwn(Change(id: ChangeID(origin: origin.nodeID, seq: UInt64(batch * 100 + index)),
                                                             hlc: HLCTimestamp(wallMillis: 1_000 + UInt64(index)), collection: "todos",
                                                             recordID: "r\(batch)-\(index)", kind: .insert, fields: ["n": .int(Int64(index))])),
                                    acknowledged: false)
                }
            }
            for changes in batches {
                mesh.forward(changes, hops: 1, except: [])
                await Task.yield()
            }
            // The session ends by itself: it dropped the connection.
            _ = try? await session.running.value
            #expect(link.overflowed, "more than 500 changes waited for the peer")
            #expect(node.metrics().slowPeersDropped == 1)
            #expect(session.aborted.withLock { $0 }, "the connection was dropped")
            #expect(!mesh.isLinked(peer.nodeID))
        }
    }
}
