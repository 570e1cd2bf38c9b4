import Crypto

/// A key that one node and the server share for one connection, so that the server authenticates
/// the node's own changes in a frame with an HMAC (about 1 µs) instead of an Ed25519 check (about
/// 90 µs): `Docs/Security.md`, "Frame keys".
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

    /// The code of a frame's changes (`data.mac`): over the same bytes a frame signature covers
    /// (each of this key's origin's changes, in order, with its own signature), under another tag;
    /// `nil` when none of `changes` is the origin's and signed.
    package func code(for changes: [Change]) -> [UInt8]? {
        guard changes.contains(where: { $0.id.origin == origin && $0.signature != nil }) else { return nil }
        return Array(HMAC<SHA256>.authenticationCode(for: ChangeSigner.frameSignedBytes(changes, origin: origin, tag: Self.codeTag), using: key))
    }

    /// The changes of `changes` that a frame's `code` vouches for: those of this key's origin, each
    /// with its own signature present, when the code holds over all of the origin's changes in the
    /// frame; empty when it does not hold (the receiver then checks each change on its own), `nil`
    /// when nothing was checked because the store holds every one of them already (as
    /// ``ChangeSigner/vouched(by:in:holding:)``).
    package func vouched(by code: [UInt8], in changes: [Change], holding held: VersionVector) -> Set<ChangeID>? {
        let own = changes.filter { $0.id.origin == origin }
        guard own.contains(where: { $0.id.seq > held[origin] }) else { return nil }
        guard HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: ChangeSigner.frameSignedBytes(own, origin: origin, tag: Self.codeTag),
                                                     using: key) else { return [] }
        return Set(own.lazy.filter { $0.signature != nil }.map(\.id))
    }

    static let codeTag = "synclayer-frame-mac-v1"
    static let offerTag = "synclayer-frame-key-v1"

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
    private let origin: NodeID
    /// What `hello` carries as `data.key`: the node's Ed25519 public key, the X25519 public key and
    /// the Ed25519 signature over it (128 bytes).
    package let offer: [UInt8]

    package init(signer: ChangeSigner) {
        agreement = Curve25519.KeyAgreement.PrivateKey()
        origin = signer.nodeID
        let agreementKey = Array(agreement.publicKey.rawRepresentation)
        offer = signer.publicKey + agreementKey + signer.sign(FrameKeyOffer.signedBytes(node: signer.nodeID, agreementKey: agreementKey))
    }

    /// The key, from the server's answer (its X25519 public key); `nil` when the answer is malformed.
    package func key(answer: [UInt8]) -> FrameKey? {
        guard answer.count == 32, let theirs = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: answer),
              let secret = try? agreement.sharedSecretFromKeyAgreement(with: theirs) else { return nil }
        return FrameKey(origin: origin, secret: secret, offered: Array(agreement.publicKey.rawRepresentation), answered: answer)
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
