import Crypto

/// A key that one node and the server share for one connection, so that the server authenticates
/// the node's frames with an HMAC over their bytes (about 1 µs for a small frame) instead of an
/// Ed25519 check (about 90 µs): `Docs/Security.md`, "Frame keys".
///
/// The node offers, in its `hello`, a new X25519 public key signed with its Ed25519 key
/// (``FrameKeyOffer``); the server checks that signature once, answers with an X25519 public key of
/// its own, and both derive the key from the two. Only the holder of the node's signing key can
/// make an offer in its name, and only the holder of the offer's private half (the node, for this
/// connection only) can derive the key: someone who replays an offer, or sits between the two and
/// swaps the server's key for one of its own, cannot compute codes the server accepts.
package struct FrameKey: Sendable {
    /// The node whose own changes this key vouches for.
    package let origin: NodeID
    private let key: SymmetricKey

    /// What a node's `changes` frame carries as its code while it is encoded (`data.mac`, 32 zero
    /// bytes), before ``seal(_:)`` writes the code in its place.
    package static let placeholder = [UInt8](repeating: 0, count: 32)
    private static let placeholderText = Array(Base64.encode(placeholder).utf8)
    private static let slotHead = Array(#","mac":""#.utf8)
    private static let slotTail = Array(#""},"type":"changes"}"#.utf8)
    static let offerTag = "synclayer-frame-key-v1"

    /// `messages` as a `changes` frame sealed with this key: encoded by `codec` with ``placeholder``
    /// as its code, then ``seal(_:)``ed (the codec writes the code as the frame's last field).
    package func sealedFrame(_ messages: [ChangeMessage], codec: FrameCodec) -> [UInt8] {
        var message = codec.encode(.changes(ChangeBatch(changes: messages, code: Self.placeholder)))
        _ = seal(&message)
        return message
    }

    /// Writes the code of a `changes` frame into it: `message` is the frame as ``FrameCodec``
    /// writes it with ``placeholder`` as its code, which is its last field, right before
    /// `},"type":"changes"}`. The code is the HMAC-SHA256, under this key, of every byte of the
    /// message with the placeholder's 44 base64 characters in that field. Returns `false`, leaving
    /// `message` as it was, when the message does not end in that field.
    package func seal(_ message: inout [UInt8]) -> Bool {
        let sealed = message.withUnsafeBytes { bytes -> (slot: Range<Int>, code: [UInt8])? in
            guard let slot = Self.slot(in: bytes) else { return nil }
            return (slot, Array(code(of: bytes, slot: slot)))
        }
        guard let sealed else { return false }
        message.replaceSubrange(sealed.slot, with: Base64.encode(sealed.code).utf8)
        return true
    }

    /// Whether `message`, as received, carries this key's code over it (``seal(_:)``); compared in
    /// constant time. A message altered anywhere, or sealed under another key, does not open: the
    /// code's own characters too, since ``Base64/decode(_:)`` takes only the one encoding of a code.
    package func opens(_ message: UnsafeRawBufferPointer) -> Bool {
        guard let slot = Self.slot(in: message),
              let sent = Base64.decode(String(decoding: UnsafeRawBufferPointer(rebasing: message[slot]), as: UTF8.self)),
              sent.count == 32 else { return false }
        return code(of: message, slot: slot) == sent
    }

    /// Where the code's 44 characters are: before the closing `"},"type":"changes"}`, after `,"mac":"`.
    private static func slot(in message: UnsafeRawBufferPointer) -> Range<Int>? {
        let end = message.count - slotTail.count
        let start = end - placeholderText.count
        guard start - slotHead.count >= 0, message[end...].elementsEqual(slotTail),
              message[(start - slotHead.count)..<start].elementsEqual(slotHead) else { return nil }
        return start..<end
    }

    private func code(of message: UnsafeRawBufferPointer, slot: Range<Int>) -> HMAC<SHA256>.MAC {
        var hmac = HMAC<SHA256>(key: key)
        hmac.update(data: UnsafeRawBufferPointer(rebasing: message[..<slot.lowerBound]))
        hmac.update(data: Self.placeholderText)
        hmac.update(data: UnsafeRawBufferPointer(rebasing: message[slot.upperBound...]))
        return hmac.finalize()
    }

    fileprivate init(origin: NodeID, secret: SharedSecret, offered: [UInt8], answered: [UInt8]) {
        self.origin = origin
        key = secret.hkdfDerivedSymmetricKey(using: SHA256.self, salt: offered + answered,
                                             sharedInfo: Array(Self.offerTag.utf8) + Array(origin.rawValue.utf8), outputByteCount: 32)
    }

    /// The server's side: checks `offer` (sent in the `hello` of `node`) and returns the key and what
    /// to answer in its own `hello` (its X25519 public key), or `nil` when the offer is not `node`'s:
    /// malformed, by a key that is not the node's, or not signed by it. One Ed25519 check and one
    /// key agreement per connection.
    package static func accept(_ offer: [UInt8], from node: NodeID) -> (key: FrameKey, answer: [UInt8])? {
        guard let offer = FrameKeyOffer(wire: offer), offer.verifies(for: node),
              let theirs = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: offer.agreementKey) else { return nil }
        let ours = Curve25519.KeyAgreement.PrivateKey()
        let answer = Array(ours.publicKey.rawRepresentation)
        guard let secret = try? ours.sharedSecretFromKeyAgreement(with: theirs) else { return nil }
        return (FrameKey(origin: node, secret: secret, offered: offer.agreementKey, answered: answer), answer)
    }
}

/// A node's half of a connection's ``FrameKey``: a new X25519 key, and the offer its `hello` carries.
package struct FrameKeyExchange: Sendable {
    private let agreement: Curve25519.KeyAgreement.PrivateKey
    private let agreementKey: [UInt8]
    private let origin: NodeID
    /// What `hello` carries as `data.key`: the node's Ed25519 public key, the X25519 public key and
    /// the Ed25519 signature over it (128 bytes).
    package let offer: [UInt8]

    package init(signer: ChangeSigner) {
        agreement = Curve25519.KeyAgreement.PrivateKey()
        agreementKey = Array(agreement.publicKey.rawRepresentation)
        origin = signer.nodeID
        offer = signer.publicKey + agreementKey + signer.sign(FrameKeyOffer.signedBytes(node: origin, agreementKey: agreementKey))
    }

    /// The key, from the server's answer (its X25519 public key); `nil` when the answer is malformed.
    package func key(answer: [UInt8]) -> FrameKey? {
        guard answer.count == 32, let theirs = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: answer),
              let secret = try? agreement.sharedSecretFromKeyAgreement(with: theirs) else { return nil }
        return FrameKey(origin: origin, secret: secret, offered: agreementKey, answered: answer)
    }
}

/// An offer as it travels: signing key (32 bytes), agreement key (32), signature (64).
struct FrameKeyOffer {
    let signingKey: [UInt8]
    let agreementKey: [UInt8]
    let signature: [UInt8]

    init?(wire: [UInt8]) {
        guard wire.count == 128 else { return nil }
        signingKey = Array(wire[0..<32])
        agreementKey = Array(wire[32..<64])
        signature = Array(wire[64...])
    }

    /// Signed by `node`'s key: the key's digest is the node's id, and the signature holds.
    func verifies(for node: NodeID) -> Bool {
        guard NodeID(signingKey: signingKey) == node,
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: signingKey) else { return false }
        return key.isValidSignature(signature, for: Self.signedBytes(node: node, agreementKey: agreementKey))
    }

    /// A domain tag, the node's id and the agreement key, each preceded by its length.
    static func signedBytes(node: NodeID, agreementKey: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.appendLengthPrefixed(FrameKey.offerTag.utf8)
        out.appendLengthPrefixed(node.rawValue.utf8)
        out.appendLengthPrefixed(agreementKey)
        return out
    }
}
