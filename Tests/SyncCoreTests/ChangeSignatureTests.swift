import SyncCore
import Testing

/// Origin signatures: what verifies, what does not, and that the signature survives the wire.
@Suite struct ChangeSignatureTests {
    let signer = ChangeSigner()

    func change(_ origin: NodeID, seq: UInt64 = 1, fields: JSONObject = ["text": "buy milk", "n": 3]) -> Change {
        Change(id: ChangeID(origin: origin, seq: seq), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000), collection: "todos",
               recordID: "r1", kind: .insert, fields: fields)
    }

    @Test func aChangeSignedByItsOriginVerifies() {
        let signed = signer.signingOwn(change(signer.nodeID))
        #expect(signed.signature?.publicKey.count == 32 && signed.signature?.signature.count == 64)
        #expect(ChangeSigner.verify(signed) == .valid)
        #expect(ChangeSigner.verify(change(signer.nodeID)) == .unsigned)
    }

    @Test func anyAlteredFieldBreaksTheSignature() {
        let signed = signer.signingOwn(change(signer.nodeID))
        let signature = signed.signature
        let altered = [
            Change(id: signed.id, hlc: signed.hlc, collection: signed.collection, recordID: signed.recordID, kind: .insert,
                   fields: ["text": "buy milk", "n": 4], signature: signature),
            Change(id: signed.id, hlc: HLCTimestamp(wallMillis: 1_767_225_600_001), collection: signed.collection, recordID: signed.recordID,
                   kind: .insert, fields: signed.fields, signature: signature),
            Change(id: signed.id, hlc: signed.hlc, collection: "other", recordID: signed.recordID, kind: .insert, fields: signed.fields,
                   signature: signature),
            Change(id: signed.id, hlc: signed.hlc, collection: signed.collection, recordID: "r2", kind: .insert, fields: signed.fields,
                   signature: signature),
            Change(id: signed.id, hlc: signed.hlc, collection: signed.collection, recordID: signed.recordID, kind: .update,
                   fields: signed.fields, signature: signature),
            Change(id: ChangeID(origin: signer.nodeID, seq: 2), hlc: signed.hlc, collection: signed.collection, recordID: signed.recordID,
                   kind: .insert, fields: signed.fields, signature: signature),
        ]
        for change in altered {
            guard case .invalid = ChangeSigner.verify(change) else {
                Issue.record("altered change verified: \(change)")
                continue
            }
        }
    }

    @Test func aChangeSignedInAnotherNodesNameIsInvalid() {
        let victim = ChangeSigner()
        // The forger signs with its own key a change that claims the victim as origin.
        var forged = change(victim.nodeID)
        forged.signature = signer.signature(for: forged)
        #expect(ChangeSigner.verify(forged) == .invalid("signed by a key that is not \(victim.nodeID)'s"))
        // A node id that is not derived from any key (a store made before signatures) cannot be signed for.
        var unbound = change(NodeID("node-a")!)
        unbound.signature = signer.signature(for: unbound)
        guard case .invalid = ChangeSigner.verify(unbound) else { Issue.record("unbound origin verified"); return }
    }

    @Test func theSignatureTravelsInMetadataAndMalformedOnesNeverVerify() throws {
        let codec = FrameCodec()
        let signed = signer.signingOwn(change(signer.nodeID))
        let text = codec.encodeString(.change(ChangeMessage(signed)))
        #expect(text.contains("\"sig\":\"\(signed.signature!.wireText)\""))
        guard case .change(let message) = try codec.decode(text), let decoded = message.change else {
            Issue.record("no change decoded")
            return
        }
        #expect(decoded.signature == signed.signature)
        #expect(ChangeSigner.verify(decoded) == .valid)
        let garbled = text.replacingOccurrences(of: signed.signature!.wireText, with: "not base64!")
        guard case .change(let bad) = try codec.decode(garbled), let badChange = bad.change else {
            Issue.record("no change decoded")
            return
        }
        #expect(badChange.signature != nil, "a malformed signature is not taken for an absent one")
        #expect(ChangeSigner.verify(badChange) == .invalid("malformed signature"))
    }

    @Test func aKeyRoundTripsAndDerivesTheSameNodeID() throws {
        let restored = try #require(ChangeSigner(rawRepresentation: signer.rawRepresentation))
        #expect(restored.nodeID == signer.nodeID && restored.publicKey == signer.publicKey)
        #expect(NodeID(signingKey: signer.publicKey) == signer.nodeID)
        #expect(signer.nodeID.rawValue.count == 32)
        #expect(ChangeSigner(rawRepresentation: [1, 2, 3]) == nil)
    }

    @Test func base64RoundTripsEveryLength() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.encode(Array("f".utf8)) == "Zg==")
        #expect(Base64.encode([]) == "")
        #expect(Base64.decode("Zm8") == nil)
        #expect(Base64.decode("Z!8=") == nil)
        // One text per value: the bits the last group leaves unused must be clear.
        #expect(Base64.decode("Zm8=") == Array("fo".utf8) && Base64.decode("Zm9=") == nil)
        #expect(Base64.decode("Zg==") == Array("f".utf8) && Base64.decode("Zh==") == nil)
    }

    /// A copy of a change the store holds is not checked (it is dropped as a duplicate by its id);
    /// one the store does not hold yet is, forged or not.
    @Test func onlyChangesNotHeldAreChecked() {
        let unsigned = change(signer.nodeID, seq: 5)
        var held = VersionVector()
        held[signer.nodeID] = 5
        #expect(ChangeSigner.verify(unsigned, holding: held) == .held)
        held[signer.nodeID] = 4
        #expect(ChangeSigner.verify(unsigned, holding: held) == .unsigned)
        #expect(ChangeSigner.verify(signer.signingOwn(unsigned), holding: held) == .valid)
    }

    /// A frame signature vouches for exactly the signer's own changes of the frame, as they are with
    /// their own signatures, and for nothing once anything it covers was altered, dropped or swapped.
    @Test func aFrameSignatureVouchesForTheSignersChangesAsTheyAre() throws {
        let other = ChangeSigner()
        let own = (1...5).map { signer.signingOwn(change(signer.nodeID, seq: $0, fields: ["n": .int(Int64($0))])) }
        let relayed = other.signingOwn(change(other.nodeID, seq: 1))
        let frame = own + [relayed]
        let signature = try #require(signer.frameSignature(for: frame))
        #expect(ChangeSigner.vouched(by: signature, in: frame) == Set(own.map(\.id)), "the signer's own, not the relayed one")
        #expect(ChangeSigner.vouched(by: signature, in: own.reversed() + [relayed]).isEmpty, "another order")
        #expect(ChangeSigner.vouched(by: signature, in: Array(own.dropLast()) + [relayed]).isEmpty, "one of them left out")
        var altered = own
        altered[2] = Change(id: own[2].id, hlc: own[2].hlc, collection: own[2].collection, recordID: own[2].recordID, kind: .insert,
                            fields: ["n": 99], signature: own[2].signature)
        #expect(ChangeSigner.vouched(by: signature, in: altered).isEmpty, "a field altered")
        var swapped = own
        swapped[1].signature = own[3].signature
        #expect(ChangeSigner.vouched(by: signature, in: swapped).isEmpty, "a change's own signature replaced")
        // Another node's key over the same frame vouches for its own changes only, and a frame
        // signature by one key cannot speak for another's changes.
        let foreign = try #require(other.frameSignature(for: [relayed, other.signingOwn(change(other.nodeID, seq: 2))]))
        #expect(ChangeSigner.vouched(by: foreign, in: frame).isEmpty)
        #expect(ChangeSigner.vouched(by: ChangeSignature(publicKey: [1, 2], signature: []), in: frame).isEmpty, "malformed")
        // Fewer than two of the signer's signed changes: no frame signature (each is checked alone).
        #expect(signer.frameSignature(for: [own[0], relayed]) == nil)
        #expect(signer.frameSignature(for: own.map { var unsigned = $0; unsigned.signature = nil; return unsigned }) == nil)
    }

    @Test func theFrameSignatureTravelsInTheChangesFrame() throws {
        let codec = FrameCodec()
        let own = (1...3).map { signer.signingOwn(change(signer.nodeID, seq: $0)) }
        let batch = ChangeBatch(changes: own.map { ChangeMessage($0) }, signature: signer.frameSignature(for: own))
        let text = codec.encodeString(.changes(batch))
        #expect(Array(text.utf8) == JSONValue.object(FrameCodec.object(for: .changes(batch))).canonicalBytes, "canonical bytes")
        guard case .changes(let decoded) = try codec.decode(text) else { Issue.record("not a changes frame"); return }
        #expect(decoded == batch)
        let signature = try #require(decoded.signature)
        #expect(ChangeSigner.vouched(by: signature, in: decoded.changes.compactMap(\.change)) == Set(own.map(\.id)))
        #expect(throws: FrameError.self) { try codec.decode(text.replacingOccurrences(of: "\"sig\":\"\(signature.wireText)\"", with: "\"sig\":3")) }
    }

    /// Signatures made by an earlier build still verify: what a change and a frame sign is the same
    /// bytes, so stored changes, relays and nodes of different versions keep agreeing. The pinned
    /// signatures were made by the build before `signedBytes` was written in place (a fixed key,
    /// fields that need escaping and sorting, a non-ASCII collection); any change to those bytes
    /// makes them invalid.
    @Test func signaturesOfAnEarlierBuildStillVerify() throws {
        let pinned = try #require(ChangeSigner(rawRepresentation: (0..<32).map { UInt8($0 * 7 + 1) }))
        #expect(pinned.nodeID.rawValue == "d3c05ab2093cb2205b52f71c54e2c8d4")
        func bytes(_ hex: String) -> [UInt8] {
            let digits = Array(hex.utf8).map { $0 <= UInt8(ascii: "9") ? $0 - UInt8(ascii: "0") : $0 - UInt8(ascii: "a") + 10 }
            return stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
        }
        let fields: JSONObject = ["text": "grüße \"quoted\"\n\u{1}", "n": 3, "x": 1.5, "nested": .object(["b": true, "a": .array([.null, "z"])]), "Z": -12]
        var a = Change(id: ChangeID(origin: pinned.nodeID, seq: 1_234_567), hlc: HLCTimestamp(rawValue: 0x0123_4567_89ab_cdef),
                       collection: "todös", recordID: "r/1", kind: .update, fields: fields)
        var b = Change(id: ChangeID(origin: pinned.nodeID, seq: 1_234_568), hlc: HLCTimestamp(rawValue: 0x0123_4567_89ab_cdf0),
                       collection: "todös", recordID: "r/1", kind: .delete, fields: [:])
        a.signature = ChangeSignature(publicKey: pinned.publicKey, signature: bytes(
            "20234374e07a415d2457d7d4cceb3665dfc001e077433fb21e4b3ecb04b8ecbbc0e1ac32f30a6866d7f3a469de248e26ed048ea608dc3e47ae8fafcc265b600d"))
        b.signature = ChangeSignature(publicKey: pinned.publicKey, signature: bytes(
            "5c56901efae3170e3da36fd10c3378d40672275b90dab52f06d60a4830f5981b25e5e5a312fcd26e9a59960785902e42588f15e4b36e6f3477a414a732f25104"))
        #expect(ChangeSigner.verify(a) == .valid)
        #expect(ChangeSigner.verify(b) == .valid)
        let frame = ChangeSignature(publicKey: pinned.publicKey, signature: bytes(
            "3eb55fff3df7e0cccfde508c0e367ebec7cf9ef35f5b51dfb547a06a3de5b4542d46b36789627fc3b418b96892d24cba9cb9650cf36dd94cea5b08928a1d630c"))
        #expect(ChangeSigner.vouched(by: frame, in: [a, b]) == [a.id, b.id])
        #expect(ChangeSigner.vouched(by: frame, in: [b, a]).isEmpty)
    }
}
