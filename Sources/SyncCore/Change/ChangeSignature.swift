/// The origin's signature on a change: its Ed25519 public key and the signature over the change's
/// signed bytes (``Change/signedBytes``). It travels with the change, in `metadata.sig`, from its
/// origin through relays and the server to every node.
///
/// The key is what binds the signature to the origin: a node's id is derived from its public key
/// (``NodeID/init(signingKey:)``), so a relay cannot swap in a key of its own for another node's
/// changes. Verification is in ``ChangeSigner``.
package struct ChangeSignature: Hashable, Sendable {
    /// The origin's Ed25519 public key (32 bytes when well formed).
    package let publicKey: [UInt8]
    /// The signature (64 bytes when well formed).
    package let signature: [UInt8]

    package init(publicKey: [UInt8], signature: [UInt8]) {
        self.publicKey = publicKey
        self.signature = signature
    }

    /// The wire form: base64 of the key followed by the signature (96 bytes, 128 characters).
    package var wireText: String {
        Base64.encode(publicKey + signature)
    }

    /// From a frame's or a request's `sig` field (``init(wireText:)``); `INVALID_MESSAGE` when it is
    /// not a string.
    package init(field value: JSONValue, named name: String) throws(FrameError) {
        guard let text = value.stringValue else { throw FrameError(.invalidMessage, "\"\(name)\" must be a string") }
        self.init(wireText: text)
    }

    /// From the wire form. Text that is not base64 of 96 bytes still gives a signature, one that
    /// never verifies: a malformed signature is a bad signature, not an absent one.
    package init(wireText: String) {
        guard let bytes = Base64.decode(wireText), bytes.count == 96 else {
            self.init(publicKey: [], signature: [])
            return
        }
        self.init(publicKey: Array(bytes[0..<32]), signature: Array(bytes[32...]))
    }
}

/// Standard base64 with padding, for the few binary values in JSON frames.
package enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let inverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// (Written straight into the string's storage: the server encodes every change's signature
    /// for its row and for each frame that carries the change.)
    package static func encode(_ bytes: [UInt8]) -> String {
        let count = (bytes.count + 2) / 3 * 4
        return String(unsafeUninitializedCapacity: count) { out in
            bytes.withUnsafeBufferPointer { input in
                alphabet.withUnsafeBufferPointer { table in
                    var index = 0, written = 0
                    while index + 3 <= input.count {
                        let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                        out[written] = table[Int(value >> 18 & 63)]
                        out[written + 1] = table[Int(value >> 12 & 63)]
                        out[written + 2] = table[Int(value >> 6 & 63)]
                        out[written + 3] = table[Int(value & 63)]
                        index += 3
                        written += 4
                    }
                    let rest = input.count - index
                    if rest > 0 {
                        let value = UInt32(input[index]) << 16 | (rest == 2 ? UInt32(input[index + 1]) << 8 : 0)
                        out[written] = table[Int(value >> 18 & 63)]
                        out[written + 1] = table[Int(value >> 12 & 63)]
                        out[written + 2] = rest == 2 ? table[Int(value >> 6 & 63)] : UInt8(ascii: "=")
                        out[written + 3] = UInt8(ascii: "=")
                    }
                }
            }
            return count
        }
    }

    /// The bytes `text` encodes, or `nil` unless it is their one encoding: the bits the last group
    /// leaves unused must be clear (RFC 4648, 3.5), so no two texts decode to the same bytes and a
    /// check of decoded bytes also holds for the text that carried them.
    package static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let isLast = index + 4 == input.count
            let padding = isLast ? (input[index + 3] == UInt8(ascii: "=") ? (input[index + 2] == UInt8(ascii: "=") ? 2 : 1) : 0) : 0
            var value: UInt32 = 0
            for offset in 0..<(4 - padding) {
                let digit = inverse[Int(input[index + offset])]
                guard digit != 0xFF else { return nil }
                value |= UInt32(digit) << (18 - 6 * offset)
            }
            // What the padding drops must be zero: 16 bits after one byte, 8 after two.
            guard padding == 0 || value & (padding == 2 ? 0xFFFF : 0xFF) == 0 else { return nil }
            out.append(UInt8(value >> 16 & 0xFF))
            if padding < 2 { out.append(UInt8(value >> 8 & 0xFF)) }
            if padding < 1 { out.append(UInt8(value & 0xFF)) }
            index += 4
        }
        return out
    }
}

extension Change {
    /// The bytes an origin signs: a domain tag, then the change id, HLC, collection, record id,
    /// kind and the canonical JSON of the fields, each preceded by its length (4 bytes, big endian),
    /// so no two different changes give the same bytes. Every field a relay could alter is covered.
    package var signedBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + collection.utf8.count + recordID.utf8.count + 16 * fields.count)
        appendSignedBytes(to: &out)
        return out
    }

    /// Appends ``signedBytes`` to `out`, each part written in place (no string or array per part).
    /// (No `reserveCapacity` here: called once per change of a frame on one growing array, it would
    /// copy the array each time instead of letting it grow geometrically.)
    package func appendSignedBytes(to out: inout [UInt8]) {
        out.appendLengthPrefixed("synclayer-change-v1".utf8)
        out.appendLengthPrefixed { id.appendText(to: &$0) }
        out.appendLengthPrefixed { hlc.appendHex(to: &$0) }
        out.appendLengthPrefixed(collection.utf8)
        out.appendLengthPrefixed(recordID.utf8)
        out.appendLengthPrefixed(kind.rawValue.utf8)
        out.appendLengthPrefixed { JSONValue.appendCanonical(object: fields, to: &$0) }
    }
}

extension [UInt8] {
    /// Appends `part` preceded by its length (4 bytes, big endian): what signatures cover is a run
    /// of such parts, so that no two different contents give the same bytes.
    mutating func appendLengthPrefixed(_ part: some Collection<UInt8>) {
        appendLengthPrefixed { $0.append(contentsOf: part) }
    }

    /// Appends what `write` appends, preceded by its length, written in once `write` is done.
    mutating func appendLengthPrefixed(_ write: (inout [UInt8]) -> Void) {
        let start = count
        append(contentsOf: repeatElement(0, count: 4))
        write(&self)
        let length = UInt32(clamping: count - start - 4)
        for offset in 0..<4 { self[start + offset] = UInt8(truncatingIfNeeded: length >> (24 - 8 * offset)) }
    }
}
