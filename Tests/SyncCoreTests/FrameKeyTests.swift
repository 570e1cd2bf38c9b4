import SyncCore
import Testing

/// A connection's frame key (Docs/Security.md, "Frame keys"): the node and the server derive the
/// same key, only the node that signed the offer can, and a code vouches for exactly the frame's
/// changes of that node as they were sent.
@Suite struct FrameKeyTests {
    let signer = ChangeSigner()

    func change(_ origin: NodeID, seq: UInt64) -> Change {
        Change(id: ChangeID(origin: origin, seq: seq), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000 + seq), collection: "todos",
               recordID: "r\(seq)", kind: .insert, fields: ["n": .int(Int64(seq))])
    }

    /// The node's key from the server's answer, and the server's.
    func keys(_ exchange: FrameKeyExchange, for node: NodeID) throws -> (node: FrameKey, server: FrameKey) {
        let accepted = try #require(FrameKey.accept(exchange.offer, from: node))
        #expect(accepted.answer.count == 32)
        return (try #require(exchange.key(answer: accepted.answer)), accepted.key)
    }

    @Test func aCodeOfTheNodesKeyVouchesForItsOwnChangesAsTheyWereSent() throws {
        let exchange = FrameKeyExchange(signer: signer)
        #expect(exchange.offer.count == 128)
        let (nodeKey, serverKey) = try keys(exchange, for: signer.nodeID)
        #expect(nodeKey.origin == signer.nodeID && serverKey.origin == signer.nodeID)

        let other = ChangeSigner()
        let own = (1...5).map { signer.signingOwn(change(signer.nodeID, seq: $0)) }
        let relayed = other.signingOwn(change(other.nodeID, seq: 1))
        let frame = own + [relayed]
        let code = try #require(nodeKey.code(for: frame))
        #expect(code.count == 32)
        #expect(serverKey.vouched(by: code, in: frame, holding: VersionVector()) == Set(own.map(\.id)), "the node's own, not the relayed one")
        #expect(serverKey.vouched(by: code, in: own.reversed() + [relayed], holding: VersionVector()) == [], "another order")
        #expect(serverKey.vouched(by: code, in: Array(own.dropLast()), holding: VersionVector()) == [], "one left out")
        var altered = own
        altered[2] = Change(id: own[2].id, hlc: own[2].hlc, collection: own[2].collection, recordID: own[2].recordID, kind: .insert,
                            fields: ["n": 99], signature: own[2].signature)
        #expect(serverKey.vouched(by: code, in: altered, holding: VersionVector()) == [], "a field altered")
        var swapped = own
        swapped[1].signature = own[3].signature
        #expect(serverKey.vouched(by: code, in: swapped, holding: VersionVector()) == [], "a change's own signature replaced")
        #expect(serverKey.vouched(by: code.map { $0 ^ 1 }, in: frame, holding: VersionVector()) == [], "the code altered")
        #expect(serverKey.vouched(by: [], in: frame, holding: VersionVector()) == [], "malformed")
        // Every change of the node held already: nothing is checked, the copies are dropped anyway.
        #expect(serverKey.vouched(by: code, in: frame, holding: VersionVector([signer.nodeID: 5])) == nil)
        // A frame of another node's changes only, or of unsigned ones: no code (each is checked alone).
        #expect(nodeKey.code(for: [relayed]) == nil)
        #expect(nodeKey.code(for: [change(signer.nodeID, seq: 6)]) == nil)
    }

    /// The server answers each offer with a key of its own, so a code seen on one connection holds on
    /// no other, even one that replays the same offer: only the node holds the offer's private half.
    @Test func aReplayedOfferGivesAKeyThatNoCodeOfAnotherConnectionOpens() throws {
        let exchange = FrameKeyExchange(signer: signer)
        let (nodeKey, _) = try keys(exchange, for: signer.nodeID)
        let replayed = try #require(FrameKey.accept(exchange.offer, from: signer.nodeID))
        let own = [signer.signingOwn(change(signer.nodeID, seq: 1))]
        let code = try #require(nodeKey.code(for: own))
        #expect(replayed.key.vouched(by: code, in: own, holding: VersionVector()) == [])
        // A second exchange of the same node derives another key.
        let (secondKey, secondServerKey) = try keys(FrameKeyExchange(signer: signer), for: signer.nodeID)
        #expect(secondKey.code(for: own) != code)
        #expect(secondServerKey.vouched(by: try #require(secondKey.code(for: own)), in: own, holding: VersionVector()) == Set(own.map(\.id)))
    }

    @Test func anOfferHoldsOnlyForTheNodeThatSignedIt() throws {
        let offer = FrameKeyExchange(signer: signer).offer
        let other = ChangeSigner()
        #expect(FrameKey.accept(offer, from: other.nodeID) == nil, "claimed by another node")
        // Another node's offer with this node's key in front: its signature is not this key's.
        let forged = Array(offer[0..<32]) + Array(FrameKeyExchange(signer: other).offer[32...])
        #expect(FrameKey.accept(forged, from: signer.nodeID) == nil, "signed by another key")
        // The agreement key swapped for one of somebody else's (between the node and the server).
        let swapped = Array(offer[0..<32]) + Array(FrameKeyExchange(signer: other).offer[32..<64]) + Array(offer[64...])
        #expect(FrameKey.accept(swapped, from: signer.nodeID) == nil, "agreement key swapped")
        #expect(FrameKey.accept(Array(offer.dropLast()), from: signer.nodeID) == nil, "malformed")
        #expect(FrameKeyExchange(signer: signer).key(answer: [1, 2, 3]) == nil, "a malformed answer gives no key")
    }

    @Test func theOfferTheAnswerAndTheCodeTravelInTheirFrames() throws {
        let codec = FrameCodec()
        let exchange = FrameKeyExchange(signer: signer)
        let hello = Hello(nodeID: signer.nodeID, vector: VersionVector(), frameKey: exchange.offer)
        guard case .hello(let decoded) = try codec.decode(codec.encodeString(.hello(hello))) else { Issue.record("not a hello"); return }
        #expect(decoded == hello)
        let (nodeKey, serverKey) = try keys(exchange, for: decoded.nodeID)
        let own = (1...2).map { signer.signingOwn(change(signer.nodeID, seq: $0)) }
        let batch = ChangeBatch(changes: own.map { ChangeMessage($0) }, code: nodeKey.code(for: own))
        let text = codec.encodeString(.changes(batch))
        #expect(Array(text.utf8) == JSONValue.object(FrameCodec.object(for: .changes(batch))).canonicalBytes, "canonical bytes")
        guard case .changes(let received) = try codec.decode(text) else { Issue.record("not a changes frame"); return }
        #expect(received == batch && received.signature == nil)
        let code = try #require(received.code)
        #expect(serverKey.vouched(by: code, in: received.changes.compactMap(\.change), holding: VersionVector()) == Set(own.map(\.id)))
        #expect(throws: FrameError.self) { try codec.decode(text.replacingOccurrences(of: "\"mac\":\"\(Base64.encode(code))\"", with: "\"mac\":3")) }
        // Not base64: a code that never holds, not an absent one.
        guard case .changes(let garbled) = try codec.decode(text.replacingOccurrences(of: "\"mac\":\"\(Base64.encode(code))\"", with: "\"mac\":\"*\"")) else {
            Issue.record("not a changes frame")
            return
        }
        #expect(garbled.code == [])
    }
}
