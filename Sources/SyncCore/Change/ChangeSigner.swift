import Crypto

/// A node's signing identity: its Ed25519 key, and the node id derived from the public key.
///
/// A node signs each of its own changes as it leaves the node (to a peer or to the server), not at
/// write time, so that local writes stay as fast as SQLite allows; relays and the server pass the
/// signature on unchanged. Anyone can check a change with ``verify(_:)`` alone: the public key
/// travels in the signature and the origin's id must be the key's digest.
package struct ChangeSigner: Sendable {
    private let key: Curve25519.Signing.PrivateKey
    /// The public key's bytes.
    package let publicKey: [UInt8]
    /// The node id this key stands for (``NodeID/init(signingKey:)``).
    package let nodeID: NodeID

    /// A new random key.
    package init() {
        self.init(key: Curve25519.Signing.PrivateKey())
    }

    /// The key from its 32 raw bytes, as ``rawRepresentation`` gave them; `nil` when malformed.
    package init?(rawRepresentation: [UInt8]) {
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation) else { return nil }
        self.init(key: key)
    }

    private init(key: Curve25519.Signing.PrivateKey) {
        self.key = key
        publicKey = Array(key.publicKey.rawRepresentation)
        nodeID = NodeID(signingKey: publicKey)
    }

    /// The private key's 32 raw bytes, for the store's `meta` table.
    package var rawRepresentation: [UInt8] { Array(key.rawRepresentation) }

    /// The signature of `change` by this key.
    package func signature(for change: Change) -> ChangeSignature {
        ChangeSignature(publicKey: publicKey, signature: sign(change.signedBytes))
    }

    /// This key's signature over `bytes`: a change's, a frame's, a frame key's offer (``FrameKeyExchange``).
    func sign(_ bytes: [UInt8]) -> [UInt8] {
        // Signing fails only on an internal error of the crypto library.
        Array(try! key.signature(for: bytes))
    }

    /// `change`, signed when it is this node's own (by id) and not signed yet; any other unchanged.
    package func signingOwn(_ change: Change) -> Change {
        guard change.signature == nil, change.id.origin == nodeID else { return change }
        var signed = change
        signed.signature = signature(for: change)
        return signed
    }

    /// What a check of a change's signature found.
    package enum Verdict: Hashable, Sendable {
        /// Signed by the key its origin's id is derived from, over exactly this content.
        case valid
        /// No signature.
        case unsigned
        /// A signature that does not hold: malformed, by a key that is not the origin's, or not over
        /// this content (the change was altered or forged).
        case invalid(String)
        /// Not checked: a copy of a change the store already holds, which is dropped as a duplicate
        /// by its id whatever it says (``verify(_:holding:)``).
        case held
    }

    /// Checks `change`'s signature against its origin (about 90 µs; see `Docs/Security.md`).
    package static func verify(_ change: Change) -> Verdict {
        guard let signature = change.signature else { return .unsigned }
        guard signature.publicKey.count == 32, signature.signature.count == 64 else { return .invalid("malformed signature") }
        guard NodeID(signingKey: signature.publicKey) == change.id.origin else {
            return .invalid("signed by a key that is not \(change.id.origin)'s")
        }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: signature.publicKey),
              key.isValidSignature(signature.signature, for: change.signedBytes) else {
            return .invalid("signature does not match the change's content")
        }
        return .valid
    }

    /// Checks a change received for a store that holds `held`: one numbered at or below
    /// `held[origin]` is a copy of a change the store has, so it is not worth the check (`.held`);
    /// after a heal, peers and re-uploading nodes send many.
    package static func verify(_ change: Change, holding held: VersionVector) -> Verdict {
        change.id.seq <= held[change.id.origin] ? .held : verify(change)
    }
}

extension ChangeSigner {
    /// One signature for a whole frame of this node's own changes (a `changes` frame's `sig`), or
    /// `nil` when fewer than two of `changes` are this node's and signed: then the receiver checks
    /// each change's own signature, as it would anyway.
    ///
    /// A receiver that checks this one signature knows, for the cost of one check instead of one per
    /// change, that this node sent exactly these changes with exactly these signatures of theirs
    /// (``frameSignedBytes(_:origin:)``).
    package func frameSignature(for changes: [Change]) -> ChangeSignature? {
        guard changes.count(where: { $0.id.origin == nodeID && $0.signature != nil }) >= 2 else { return nil }
        return ChangeSignature(publicKey: publicKey, signature: sign(Self.frameSignedBytes(changes, origin: nodeID)))
    }

    /// The changes of `changes` that a frame's `signature` vouches for: those of the origin whose id
    /// the signature's key derives, each with its own signature present, when the signature holds
    /// over all of that origin's changes in the frame (in order, with their own signatures). Empty
    /// when it does not hold: the receiver then checks each change on its own.
    ///
    /// A vouched change is one its origin sent as it is: no relay can alter it, its own signature, or
    /// which of the origin's changes the frame holds. Its own signature is carried on unchecked, for
    /// LAN peers, which check every change they receive.
    package static func vouched(by signature: ChangeSignature, in changes: [Change]) -> Set<ChangeID> {
        vouched(by: signature, in: changes, holding: VersionVector()) ?? []
    }

    /// ``vouched(by:in:)`` for a store that holds `held`, or `nil` when nothing was checked: a
    /// malformed signature, or none of the signer's changes in the frame numbered above
    /// `held[origin]` (copies of changes the store has, dropped as duplicates whatever they say, as
    /// in ``verify(_:holding:)``).
    package static func vouched(by signature: ChangeSignature, in changes: [Change], holding held: VersionVector) -> Set<ChangeID>? {
        guard signature.publicKey.count == 32, signature.signature.count == 64 else { return nil }
        let origin = NodeID(signingKey: signature.publicKey)
        let own = changes.filter { $0.id.origin == origin }
        guard own.contains(where: { $0.id.seq > held[origin] }) else { return nil }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: signature.publicKey),
              key.isValidSignature(signature.signature, for: frameSignedBytes(own, origin: origin)) else { return [] }
        return vouchable(own, origin: origin)
    }

    /// What a proof of `origin`'s over a frame (its frame signature, or its connection's frame key)
    /// vouches for: the ids of its changes among `changes` that carry their own signature, which the
    /// store keeps for LAN peers.
    package static func vouchable(_ changes: [Change], origin: NodeID) -> Set<ChangeID> {
        Set(changes.lazy.filter { $0.id.origin == origin && $0.signature != nil }.map(\.id))
    }

    /// What a frame's signature covers: a domain tag, the origin's id, then for each of `changes`
    /// whose origin is `origin`, in order, its ``Change/signedBytes`` and its own signature (key and
    /// signature; empty when unsigned), each preceded by its length (4 bytes, big endian).
    static func frameSignedBytes(_ changes: [Change], origin: NodeID) -> [UInt8] {
        var out: [UInt8] = []
        out.appendLengthPrefixed("synclayer-frame-v1".utf8)
        out.appendLengthPrefixed(origin.rawValue.utf8)
        for change in changes where change.id.origin == origin {
            out.appendLengthPrefixed { change.appendSignedBytes(to: &$0) }
            out.appendLengthPrefixed {
                $0.append(contentsOf: change.signature?.publicKey ?? [])
                $0.append(contentsOf: change.signature?.signature ?? [])
            }
        }
        return out
    }
}

extension NodeID {
    /// The node id a signing key stands for: the first 16 bytes of the SHA-256 of the public key, as
    /// 32 hex digits.
    package init(signingKey publicKey: [UInt8]) {
        self.init(lowercaseHex(SHA256.hash(data: publicKey).prefix(16)))!
    }
}
