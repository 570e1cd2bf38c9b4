/// The globally unique id of a change: its origin node and that node's sequence number for it.
///
/// Sequences start at 1 and have no gaps per origin, which is what lets version vectors say exactly
/// which changes a node holds. Text form: `origin:seq`.
package struct ChangeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The node that made the change.
    package let origin: NodeID
    /// The origin's sequence number for it, from 1.
    package let seq: UInt64

    package init(origin: NodeID, seq: UInt64) {
        self.origin = origin
        self.seq = seq
    }

    /// Parses `origin:seq`; `nil` for anything else.
    package init?(_ text: String) {
        guard let colon = text.utf8.lastIndex(of: UInt8(ascii: ":")),
              let origin = NodeID(String(text[..<colon])),
              let seq = UInt64(text[text.index(after: colon)...]), seq > 0 else { return nil }
        self.init(origin: origin, seq: seq)
    }

    package var description: String {
        var text: [UInt8] = []
        appendText(to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends ``description``'s bytes to `out` (nothing to escape: a node id's characters are safe).
    package func appendText(to out: inout [UInt8]) {
        out.append(contentsOf: origin.rawValue.utf8)
        out.append(UInt8(ascii: ":"))
        out.append(contentsOf: String(seq).utf8)
    }

    package static func < (lhs: ChangeID, rhs: ChangeID) -> Bool {
        lhs.origin == rhs.origin ? lhs.seq < rhs.seq : lhs.origin < rhs.origin
    }
}
