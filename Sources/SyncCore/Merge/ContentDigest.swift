import Crypto

/// A digest of a collection's documents: equal on two nodes exactly when their documents are equal.
///
/// Feed documents in ascending id order (by UTF-8 bytes); each contributes its id and canonical body,
/// length-prefixed so that no two different collections can produce the same input.
package struct ContentDigest: Sendable {
    private var hasher = SHA256()
    /// How many documents went in.
    package private(set) var count = 0

    package init() {}

    /// Adds one document.
    package mutating func add(id: String, canonicalBody: some Collection<UInt8>) {
        var header: [UInt8] = []
        append(UInt64(id.utf8.count), to: &header)
        header.append(contentsOf: id.utf8)
        append(UInt64(canonicalBody.count), to: &header)
        hasher.update(data: header)
        hasher.update(data: Array(canonicalBody))
        count += 1
    }

    /// The digest as 64 hex digits.
    package func finalize() -> String {
        lowercaseHex(hasher.finalize())
    }

    private func append(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
