import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SyncCore

/// The mesh's sealed transport, used when the team has a secret (`MeshConfiguration.teamSecret`).
/// See `Docs/Security.md`.
///
/// Each side of a link sends a fresh X25519 public key first (binary message `SLK1` + 32 bytes).
/// Both compute the Diffie-Hellman secret and derive two ChaCha20-Poly1305 keys with HKDF-SHA256,
/// salted with the team key (HKDF of the team secret) and bound to both public keys: one key per
/// direction. Every frame after that is one binary message, sealed under its direction's key with a
/// nonce that is the frame's number in that direction, never sent. So:
/// - a node without the team secret derives other keys: its first frame does not open, and the
///   link is refused before its `peerHello` is read;
/// - someone on the LAN sees only key exchanges and ciphertext, and cannot alter, drop or reorder a
///   frame without the next one failing to open (which closes the link);
/// - a frame replayed from an earlier link does not open either (fresh keys per link).
/// The construction is the pre-shared-key Diffie-Hellman handshake of the Noise framework's
/// `NNpsk` patterns, reduced to what a link needs; the primitives are swift-crypto's.
struct MeshKeyExchange: Sendable {
    static let magic: [UInt8] = Array("SLK1".utf8)
    let teamKey: SymmetricKey
    let ephemeral = Curve25519.KeyAgreement.PrivateKey()

    init(secret: String, teamID: String) {
        teamKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: Data(secret.utf8)), salt: Data("synclayer-mesh-v1".utf8),
                                         info: Data(teamID.utf8), outputByteCount: 32)
    }

    /// The first message of this side.
    var keyMessage: [UInt8] { Self.magic + Array(ephemeral.publicKey.rawRepresentation) }

    /// The sealed channel, from the peer's first message.
    func channel(peerKeyMessage message: [UInt8]) throws(Mesh.Refusal) -> MeshCipher {
        guard message.count == Self.magic.count + 32, Array(message.prefix(4)) == Self.magic else {
            throw Mesh.Refusal(description: "the peer did not open with a key exchange (no team secret?)")
        }
        let theirs = Array(message.dropFirst(4))
        let mine = Array(ephemeral.publicKey.rawRepresentation)
        guard theirs != mine, let peer = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: theirs),
              let shared = try? ephemeral.sharedSecretFromKeyAgreement(with: peer) else {
            throw Mesh.Refusal(description: "the peer's key exchange is invalid")
        }
        let iAmFirst = mine.lexicographicallyPrecedes(theirs)
        let transcript = Array("synclayer mesh link".utf8) + (iAmFirst ? mine + theirs : theirs + mine)
        let salt = teamKey.withUnsafeBytes { Data($0) }
        let keys = shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: salt, sharedInfo: transcript, outputByteCount: 64)
            .withUnsafeBytes { Array($0) }
        let first = SymmetricKey(data: keys[0..<32]), second = SymmetricKey(data: keys[32..<64])
        return MeshCipher(sendKey: iAmFirst ? first : second, receiveKey: iAmFirst ? second : first)
    }
}

/// One link's sealed channel: a key and a frame counter per direction.
final class MeshCipher: Sendable {
    private let sendKey: SymmetricKey
    private let receiveKey: SymmetricKey
    private let sent = Locked<UInt64>(0)
    private let received = Locked<UInt64>(0)

    init(sendKey: SymmetricKey, receiveKey: SymmetricKey) {
        self.sendKey = sendKey
        self.receiveKey = receiveKey
    }

    static func nonce(_ counter: UInt64) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[4 + index] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * UInt64(index))) }
        return try! ChaChaPoly.Nonce(data: bytes)
    }

    /// The next outbound frame, sealed (ciphertext and tag; the nonce is implicit).
    func seal(_ plaintext: [UInt8]) -> [UInt8] {
        let counter = sent.withLock { value in
            defer { value += 1 }
            return value
        }
        let box = try! ChaChaPoly.seal(plaintext, using: sendKey, nonce: Self.nonce(counter))
        return Array(box.ciphertext) + Array(box.tag)
    }

    /// The next inbound frame, opened; throws when it was not sealed by the peer under this link's
    /// key as the next frame (wrong secret, altered, replayed, reordered or dropped).
    func open(_ message: some Collection<UInt8>) throws(Mesh.Refusal) -> [UInt8] {
        let bytes = Array(message)
        guard bytes.count >= 16 else { throw Mesh.Refusal(description: "a sealed frame shorter than its tag") }
        let counter = received.withLock { $0 }
        guard let box = try? ChaChaPoly.SealedBox(nonce: Self.nonce(counter), ciphertext: bytes.dropLast(16), tag: bytes.suffix(16)),
              let plaintext = try? ChaChaPoly.open(box, using: receiveKey) else {
            throw Mesh.Refusal(description: "a frame that does not open under the team key (wrong team secret, or altered)")
        }
        received.withLock { $0 += 1 }
        return Array(plaintext)
    }
}
