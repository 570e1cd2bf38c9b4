import SyncCore
import SyncServer
import SyncTesting
import Testing

/// The server accepts a change of our protocol only with its origin's valid signature, over
/// WebSocket and REST, and counts what it refuses.
@Suite struct SignatureTests {
    let codec = FrameCodec()

    func change(_ origin: NodeID, _ seq: UInt64, text: String) -> Change {
        Change(id: ChangeID(origin: origin, seq: seq), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000 + seq), collection: "todos",
               recordID: "r\(seq)", kind: .insert, fields: ["text": .string(text)])
    }

    /// A raw connection that has said `hello`, and the server's answer.
    func connect(_ server: TestServer, saying hello: Hello) async throws
        -> (socket: RawWebSocket, incoming: AsyncStream<String>.AsyncIterator, answer: Hello) {
        let socket = try await RawWebSocket.connect(server.webSocketURL)
        var incoming = socket.messages.makeAsyncIterator()
        try await socket.send(codec.encodeString(.hello(hello)))
        let text = try #require(await incoming.next(ofType: "hello"))
        guard case .hello(let answer) = try codec.decode(text) else { throw FrameError(.invalidMessage, "not a hello: \(text)") }
        return (socket, incoming, answer)
    }

    /// Sends `batch` and reads acks until each of its changes is committed or refused.
    func upload(_ batch: ChangeBatch, _ socket: RawWebSocket, _ incoming: inout AsyncStream<String>.AsyncIterator) async throws
        -> (committed: Set<ChangeID>, refused: Set<ChangeID>) {
        try await socket.send(codec.encodeString(.changes(batch)))
        return try await acks(for: batch.changes.compactMap(\.change), &incoming)
    }

    /// Reads acks until each of `changes` is committed or refused.
    func acks(for changes: [Change], _ incoming: inout AsyncStream<String>.AsyncIterator) async throws
        -> (committed: Set<ChangeID>, refused: Set<ChangeID>) {
        var committed: Set<ChangeID> = [], refused: Set<ChangeID> = []
        while committed.count + refused.count < changes.count, let text = await incoming.next(ofType: "ack") {
            guard case .ack(let ack) = try codec.decode(text) else { continue }
            committed.formUnion(ack.committed.keys)
            refused.formUnion(ack.rejected.keys)
        }
        return (committed, refused)
    }

    @Test func forgedAlteredAndUnsignedChangesAreRefusedAndCounted() async throws {
        try await withServer { server, _ in
            let origin = ChangeSigner(), forger = ChangeSigner()
            let genuine = origin.signingOwn(change(origin.nodeID, 1, text: "genuine"))
            // The same id and signature with other content; one in the origin's name signed by
            // another key; one with no signature at all.
            var altered = change(origin.nodeID, 2, text: "altered")
            altered.signature = origin.signature(for: change(origin.nodeID, 2, text: "what the origin wrote"))
            var forged = change(origin.nodeID, 3, text: "forged")
            forged.signature = forger.signature(for: forged)
            let unsigned = change(origin.nodeID, 4, text: "unsigned")

            let socket = try await RawWebSocket.connect(server.webSocketURL)
            var incoming = socket.messages.makeAsyncIterator()
            // The sender claims to be the origin itself: the signature, not the claim, decides.
            try await socket.send(codec.encodeString(.hello(Hello(nodeID: origin.nodeID, vector: VersionVector(), collections: ["todos"]))))
            _ = await incoming.next(ofType: "hello")
            let batch = ChangeBatch(changes: [genuine, altered, forged, unsigned].map { ChangeMessage($0) })
            try await socket.send(codec.encodeString(.changes(batch)))
            var refused: [ChangeID: FrameError] = [:]
            var committed: [ChangeID: UInt64] = [:]
            while refused.count + committed.count < 4, let text = await incoming.next(ofType: "ack") {
                guard case .ack(let ack) = try codec.decode(text) else { continue }
                refused.merge(ack.rejected) { first, _ in first }
                committed.merge(ack.committed) { first, _ in first }
            }
            #expect(Set(refused.keys) == [altered.id, forged.id, unsigned.id])
            #expect(refused.values.allSatisfy { $0.code == .unauthorized })
            #expect(refused[forged.id]?.message.contains("not \(origin.nodeID)'s") == true)
            #expect(Array(committed.keys) == [genuine.id])

            // REST push: the same rule.
            var alsoAltered = change(origin.nodeID, 5, text: "altered over REST")
            alsoAltered.signature = origin.signature(for: change(origin.nodeID, 5, text: "original"))
            let body = JSONValue.object(["changes": .array([.object(FrameCodec.object(for: .change(ChangeMessage(alsoAltered))))])])
            let pushed = try await http(.POST, "\(server.baseURL)/sync/_push", body: body.canonicalString).json
            #expect(pushed?["rejected"]?[alsoAltered.id.description] != nil, "refused over REST: \(String(describing: pushed))")

            // Nothing refused was stored; the refusals are counted.
            let stored = try await server.store.changes(after: 0, collections: ["todos"]).changes.map(\.change.id)
            #expect(stored == [genuine.id])
            let metrics = try await http(.GET, "\(server.baseURL)/metrics.json").json
            #expect(metrics?["badSignatures"]?.intValue == 4)
            // The genuine change is stored with its signature, which goes out with it to nodes that relay it.
            let kept = try await server.store.changes(after: 0, collections: ["todos"]).changes.first?.change
            #expect(kept?.signature == genuine.signature && kept.map(ChangeSigner.verify) == .valid)
            await socket.close()
        }
    }

    /// The server stamps an original-protocol write as its own change and stores it unsigned; it
    /// signs it as it leaves for a node (a pull here; a catch-up or a live frame the same way), so
    /// that nodes can relay it over the mesh, and Ed25519 signing costs nothing when no node asks.
    @Test func writesOfTheOriginalProtocolAreStampedByTheServerAndSignedForNodes() async throws {
        try await withServer { server, _ in
            let writer = try await RawWebSocket.connect(server.webSocketURL)
            try await writer.send(#"{"type":"insert","collection":"todos","recordId":"legacy","data":{"text":"from an old client"}}"#)
            #expect(try await server.waitUntil { try await server.store.get(collection: "todos", id: "legacy") != nil })
            let stored = try #require(try await server.store.changes(after: 0, collections: ["todos"]).changes.first?.change)
            #expect(stored.id.origin == server.store.serverID)
            #expect(stored.signature == nil, "stored unsigned")
            let pulled = try await http(.POST, "\(server.baseURL)/sync/_pull", body: #"{"collections":["todos"],"cursor":0}"#).json
            let frame = try #require(pulled?["changes"]?.arrayValue?.first)
            guard case .change(let message) = try FrameCodec().decode(Array(frame.canonicalString.utf8)), let change = message.change else {
                Issue.record("expected a change, got \(frame)"); return
            }
            #expect(change.id == stored.id)
            #expect(ChangeSigner.verify(change) == .valid, "a node gets it signed, so it can relay it over the mesh")
            await writer.close()
        }
    }

    /// A copy of a change the server holds already is a duplicate, answered as one without being
    /// verified: whatever it says, the stored change is the one first committed.
    @Test func anAlteredCopyOfAHeldChangeChangesNothing() async throws {
        try await withServer { server, _ in
            let origin = ChangeSigner()
            let genuine = origin.signingOwn(change(origin.nodeID, 1, text: "genuine"))
            var altered = change(origin.nodeID, 1, text: "altered")
            altered.signature = genuine.signature
            for pushed in [genuine, altered] {
                let body = JSONValue.object(["changes": .array([.object(FrameCodec.object(for: .change(ChangeMessage(pushed))))])])
                let answer = try await http(.POST, "\(server.baseURL)/sync/_push", body: body.canonicalString).json
                #expect(answer?["committed"]?[genuine.id.description] != nil, "acknowledged: \(String(describing: answer))")
            }
            let stored = try await server.store.changes(after: 0, collections: ["todos"]).changes.map(\.change)
            #expect(stored.count == 1 && stored.first?.fields == genuine.fields)
            let metrics = try await http(.GET, "\(server.baseURL)/metrics.json").json
            #expect(metrics?["duplicatesDropped"]?.intValue == 1)
            #expect(metrics?["badSignatures"]?.intValue == 0)
        }
    }

    /// A node's `changes` frame carries one signature over its own changes: the server checks that
    /// one instead of one per change. A change altered on the way breaks it, and then each change is
    /// checked on its own, so the altered one is still refused and the others still stored.
    @Test func aFrameSignatureIsCheckedOnceAndAnAlteredChangeIsStillRefused() async throws {
        try await withServer { server, _ in
            let origin = ChangeSigner()
            let (socket, connected, _) = try await connect(server, saying: Hello(nodeID: origin.nodeID, vector: VersionVector(), collections: ["todos"]))
            var incoming = connected
            func send(_ changes: [Change], signature: ChangeSignature?) async throws -> (committed: Set<ChangeID>, refused: Set<ChangeID>) {
                try await upload(ChangeBatch(changes: changes.map { ChangeMessage($0) }, signature: signature), socket, &incoming)
            }
            func checks() async throws -> (change: Int64?, frame: Int64?, bad: Int64?) {
                let metrics = try await http(.GET, "\(server.baseURL)/metrics.json").json
                return (metrics?["changeSignaturesChecked"]?.intValue, metrics?["frameSignaturesChecked"]?.intValue,
                        metrics?["badSignatures"]?.intValue)
            }

            let first = (1...100).map { origin.signingOwn(change(origin.nodeID, $0, text: "change \($0)")) }
            let (committed, refused) = try await send(first, signature: origin.frameSignature(for: first))
            #expect(committed == Set(first.map(\.id)) && refused.isEmpty)
            var counted = try await checks()
            #expect(counted.change == 0 && counted.frame == 1 && counted.bad == 0, "one check for 100 changes: \(counted)")

            // Signed by the origin, then one change altered on the way (its own signature kept).
            var second = (101...103).map { origin.signingOwn(change(origin.nodeID, $0, text: "change \($0)")) }
            let signature = origin.frameSignature(for: second)
            second[1] = Change(id: second[1].id, hlc: second[1].hlc, collection: "todos", recordID: second[1].recordID, kind: .insert,
                               fields: ["text": "altered"], signature: second[1].signature)
            let answer = try await send(second, signature: signature)
            #expect(answer.refused == [second[1].id] && answer.committed == [second[0].id, second[2].id])
            counted = try await checks()
            #expect(counted.change == 3 && counted.frame == 2 && counted.bad == 1, "the frame's signature failed, each change checked: \(counted)")

            // The first frame again: every change held already, so nothing is checked.
            let again = try await send(first, signature: origin.frameSignature(for: first))
            #expect(again.committed == Set(first.map(\.id)))
            counted = try await checks()
            #expect(counted.change == 3 && counted.frame == 2)

            let stored = try await server.store.changes(after: 0, collections: ["todos"]).changes.map(\.change)
            #expect(stored.count == 102 && !stored.contains { $0.fields["text"] == "altered" })
            #expect(stored.allSatisfy { ChangeSigner.verify($0) == .valid }, "stored with their own signatures, for nodes that relay them")
            await socket.close()
        }
    }

    /// A node that offers a frame key in its `hello` gets the server's answer, and the frames it
    /// seals then vouch for its own changes: no Ed25519 check for them, a single change included. A
    /// frame that does not open vouches for nothing, so each change is checked by its own signature;
    /// another origin's change in the frame is always checked by its own; an offer made in another
    /// node's name gets no answer.
    @Test func aFrameKeyVouchesForTheNodesOwnChangesWithoutAnEd25519CheckEach() async throws {
        try await withServer { server, _ in
            let origin = ChangeSigner(), relayedOrigin = ChangeSigner()
            let exchange = FrameKeyExchange(signer: origin)
            let (socket, connected, answer) = try await connect(server, saying: Hello(nodeID: origin.nodeID, vector: VersionVector(),
                                                                                      frameKey: exchange.offer))
            var incoming = connected
            let key = try #require(answer.frameKey.flatMap(exchange.key(answer:)), "the server answered the offer")
            func send(_ changes: [Change], alter: Int? = nil) async throws -> (committed: Set<ChangeID>, refused: Set<ChangeID>) {
                var message = codec.encode(.changes(ChangeBatch(changes: changes.map { ChangeMessage($0) }, code: FrameKey.placeholder)))
                #expect(key.seal(&message))
                var sent = changes
                if let alter {
                    // Altered on the way, after sealing: a field of one change, its signature kept.
                    let text = String(decoding: message, as: UTF8.self).replacingOccurrences(of: "change \(alter)", with: "altered")
                    message = Array(text.utf8)
                    sent = changes.map { $0.recordID == "r\(alter)" ? Change(id: $0.id, hlc: $0.hlc, collection: "todos", recordID: $0.recordID,
                                                                             kind: .insert, fields: ["text": "altered"], signature: $0.signature) : $0 }
                }
                try await socket.send(String(decoding: message, as: UTF8.self))
                return try await acks(for: sent, &incoming)
            }
            func checks() async throws -> [String: Int64?] {
                let metrics = try await http(.GET, "\(server.baseURL)/metrics.json").json
                return Dictionary(uniqueKeysWithValues: ["changeSignaturesChecked", "frameSignaturesChecked", "frameKeysChecked", "frameCodesChecked",
                                                         "badSignatures"].map { ($0, metrics?[$0]?.intValue) })
            }

            let single = [origin.signingOwn(change(origin.nodeID, 1, text: "one"))]
            var answered = try await send(single)
            #expect(answered.committed == [single[0].id])
            #expect(try await checks() == ["changeSignaturesChecked": 0, "frameSignaturesChecked": 0, "frameKeysChecked": 1, "frameCodesChecked": 1,
                                           "badSignatures": 0])

            // Three of the node's own and one relayed: the code vouches for the three, the relayed
            // change is checked by its own signature.
            let relayed = relayedOrigin.signingOwn(change(relayedOrigin.nodeID, 1, text: "relayed"))
            let mixed = (2...4).map { origin.signingOwn(change(origin.nodeID, UInt64($0), text: "change \($0)")) } + [relayed]
            answered = try await send(mixed)
            #expect(answered.committed == Set(mixed.map(\.id)))
            #expect(try await checks()["changeSignaturesChecked"] == 1)

            // Sealed, then one change altered on the way: the frame does not open, each change is
            // checked, and the altered one is refused.
            let altered = (5...7).map { origin.signingOwn(change(origin.nodeID, UInt64($0), text: "change \($0)")) }
            answered = try await send(altered, alter: 6)
            #expect(answered.refused == [altered[1].id] && answered.committed == [altered[0].id, altered[2].id])
            #expect(try await checks() == ["changeSignaturesChecked": 4, "frameSignaturesChecked": 0, "frameKeysChecked": 1, "frameCodesChecked": 3,
                                           "badSignatures": 1])

            // The same offer, claimed by another node on another connection: no answer, no key.
            let (impostor, _, refused) = try await connect(server, saying: Hello(nodeID: relayedOrigin.nodeID, vector: VersionVector(),
                                                                               frameKey: exchange.offer))
            #expect(refused.frameKey == nil)
            #expect(try await checks()["frameKeysChecked"] == 2)

            let stored = try await server.store.changes(after: 0, collections: ["todos"]).changes.map(\.change)
            #expect(stored.count == 7 && !stored.contains { $0.fields["text"] == "altered" })
            #expect(stored.allSatisfy { ChangeSigner.verify($0) == .valid }, "stored with their own signatures, for nodes that relay them")
            await impostor.close()
            await socket.close()
        }
    }

    /// A REST push carries the same signature over the sender's changes (`sig`), checked once; an
    /// altered change in it is still refused, the others stored.
    @Test func aPushOverRESTIsCheckedByItsSignatureToo() async throws {
        try await withServer { server, _ in
            let origin = ChangeSigner()
            var changes = (1...5).map { origin.signingOwn(change(origin.nodeID, $0, text: "pushed \($0)")) }
            let intact = PushRequest(changes: changes, signature: origin.frameSignature(for: changes))
            #expect(try PushRequest(body: intact.body, maxBatchCount: 100) == intact, "the body round-trips")
            var answer = try await http(.POST, "\(server.baseURL)/sync/_push", body: JSONValue.object(intact.body).canonicalString).json
            #expect(answer?["committed"]?.objectValue?.count == 5)
            var metrics = try await http(.GET, "\(server.baseURL)/metrics.json").json
            #expect(metrics?["frameSignaturesChecked"]?.intValue == 1 && metrics?["changeSignaturesChecked"]?.intValue == 0)

            changes = (6...8).map { origin.signingOwn(change(origin.nodeID, $0, text: "pushed \($0)")) }
            let signature = origin.frameSignature(for: changes)
            changes[2] = Change(id: changes[2].id, hlc: changes[2].hlc, collection: "todos", recordID: changes[2].recordID, kind: .insert,
                                fields: ["text": "altered"], signature: changes[2].signature)
            let altered = PushRequest(changes: changes, signature: signature)
            answer = try await http(.POST, "\(server.baseURL)/sync/_push", body: JSONValue.object(altered.body).canonicalString).json
            #expect(answer?["committed"]?.objectValue?.count == 2 && answer?["rejected"]?[changes[2].id.description] != nil)
            metrics = try await http(.GET, "\(server.baseURL)/metrics.json").json
            #expect(metrics?["frameSignaturesChecked"]?.intValue == 2 && metrics?["changeSignaturesChecked"]?.intValue == 3)
            #expect(try await server.store.changeCount() == 7)
        }
    }
}
