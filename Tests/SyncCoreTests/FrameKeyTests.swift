import SyncCore
import Testing

/// A connection's frame key (Docs/Security.md, "Frame keys"): the node and the server derive the
/// same key, only the node that signed the offer can, and a frame sealed under it opens only as it
/// was sent.
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

    /// A `changes` frame of `changes`, as a node sends it under `key`.
    func sealed(_ changes: [Change], by key: FrameKey) throws -> [UInt8] {
        var message = FrameCodec().encode(.changes(ChangeBatch(changes: changes.map { ChangeMessage($0) }, code: FrameKey.placeholder)))
        #expect(key.seal(&message))
        return message
    }

    @Test func aSealedFrameOpensUnderTheServersKeyAndNotOnceAlteredAnywhere() throws {
        let exchange = FrameKeyExchange(signer: signer)
        #expect(exchange.offer.count == 128)
        let (nodeKey, serverKey) = try keys(exchange, for: signer.nodeID)
        #expect(nodeKey.origin == signer.nodeID && serverKey.origin == signer.nodeID)

        let own = (1...3).map { signer.signingOwn(change(signer.nodeID, seq: $0)) }
        let message = try sealed(own, by: nodeKey)
        #expect(message.withUnsafeBytes(serverKey.opens))
        guard case .changes(let batch) = try FrameCodec().decode(message) else { Issue.record("not a changes frame"); return }
        #expect(batch.changes == own.map { ChangeMessage($0) } && batch.code?.count == 32 && batch.code != FrameKey.placeholder)
        // Any byte altered, the code's own included, and the frame no longer opens.
        for index in message.indices {
            var altered = message
            altered[index] ^= 0x01
            #expect(!altered.withUnsafeBytes(serverKey.opens), "byte \(index) altered")
        }
        #expect(!Array(message.dropLast()).withUnsafeBytes(serverKey.opens), "cut short")
        // The code's last character with one of the bits Base64 leaves unused set: a lenient decoder
        // would read the same code from it, but the frame's bytes are not those sealed, and it does
        // not open.
        let last = message.count - #"="},"type":"changes"}"#.utf8.count - 1
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let value = try #require(alphabet.firstIndex(of: message[last]))
        #expect(value % 4 == 0, "a sealed code's last character leaves the unused bits clear")
        var unusedBitSet = message
        unusedBitSet[last] = alphabet[value + 1]
        let code = String(decoding: unusedBitSet[(last - 42)...last + 1], as: UTF8.self)
        #expect(Base64.decode(code) == nil, "not the encoding of any code")
        #expect(!unusedBitSet.withUnsafeBytes(serverKey.opens), "the same code in other bytes")
        // A frame without its code as the last field has no slot: nothing to seal, nothing opens.
        var unsealable = FrameCodec().encode(.changes(ChangeBatch(changes: own.map { ChangeMessage($0) })))
        let before = unsealable
        #expect(!nodeKey.seal(&unsealable) && unsealable == before)
        #expect(!unsealable.withUnsafeBytes(serverKey.opens))
    }

    /// The server answers each offer with a key of its own, so a frame sealed on one connection opens
    /// on no other, even one that replays the same offer: only the node holds the offer's private half.
    @Test func aReplayedOfferGivesAKeyThatNoFrameOfAnotherConnectionOpens() throws {
        let exchange = FrameKeyExchange(signer: signer)
        let (nodeKey, _) = try keys(exchange, for: signer.nodeID)
        let replayed = try #require(FrameKey.accept(exchange.offer, from: signer.nodeID))
        let message = try sealed([signer.signingOwn(change(signer.nodeID, seq: 1))], by: nodeKey)
        #expect(!message.withUnsafeBytes(replayed.key.opens))
        // A second exchange of the same node derives another key.
        let (secondKey, secondServerKey) = try keys(FrameKeyExchange(signer: signer), for: signer.nodeID)
        #expect(!message.withUnsafeBytes(secondServerKey.opens))
        #expect(try sealed([signer.signingOwn(change(signer.nodeID, seq: 1))], by: secondKey).withUnsafeBytes(secondServerKey.opens))
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

    @Test func theOfferAndTheAnswerTravelInHello() throws {
        let codec = FrameCodec()
        let exchange = FrameKeyExchange(signer: signer)
        let hello = Hello(nodeID: signer.nodeID, vector: VersionVector(), frameKey: exchange.offer)
        let text = codec.encodeString(.hello(hello))
        guard case .hello(let decoded) = try codec.decode(text) else { Issue.record("not a hello"); return }
        #expect(decoded == hello)
        _ = try keys(exchange, for: decoded.nodeID)
        #expect(throws: FrameError.self) { try codec.decode(text.replacingOccurrences(of: "\"key\":\"\(Base64.encode(exchange.offer))\"", with: "\"key\":3")) }
        // Not base64: an offer that never holds, not an absent one.
        guard case .hello(let garbled) = try codec.decode(text.replacingOccurrences(of: Base64.encode(exchange.offer), with: "*")) else {
            Issue.record("not a hello")
            return
        }
        #expect(garbled.frameKey == [])
    }
}
