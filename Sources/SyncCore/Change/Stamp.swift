/// The total order of writes used by the merge: HLC reading, then origin, then sequence.
///
/// Two different changes never share a stamp, so last-writer-wins has no ties to break by luck.
/// Text form: `hlc:seq:origin` (the HLC as 16 hex digits).
package struct Stamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// When the write happened, by its origin's hybrid logical clock.
    package let hlc: HLCTimestamp
    /// The node that wrote it.
    package let origin: NodeID
    /// The origin's sequence number for the write.
    package let seq: UInt64

    package init(hlc: HLCTimestamp, origin: NodeID, seq: UInt64) {
        self.hlc = hlc
        self.origin = origin
        self.seq = seq
    }

    package static func < (lhs: Stamp, rhs: Stamp) -> Bool {
        if lhs.hlc != rhs.hlc { return lhs.hlc < rhs.hlc }
        if lhs.origin != rhs.origin { return lhs.origin < rhs.origin }
        return lhs.seq < rhs.seq
    }

    package var description: String {
        var text: [UInt8] = []
        text.reserveCapacity(16 + 22 + origin.rawValue.utf8.count)
        appendText(to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends ``description``'s bytes to `out` (nothing to escape), without making a string.
    package func appendText(to out: inout [UInt8]) {
        hlc.appendHex(to: &out)
        out.append(UInt8(ascii: ":"))
        out.append(contentsOf: String(seq).utf8)
        out.append(UInt8(ascii: ":"))
        out.append(contentsOf: origin.rawValue.utf8)
    }

    /// Parses the text form; `nil` for anything else.
    package init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let hlc = HLCTimestamp(hexString: parts[0]), let seq = UInt64(parts[1]),
              let origin = NodeID(String(parts[2])) else { return nil }
        self.init(hlc: hlc, origin: origin, seq: seq)
    }
}
