/// The stable identity of a node: the origin of the changes it makes.
///
/// 1 to 64 characters from `A-Z a-z 0-9 _ -`, so it can sit inside change ids and stamps without escaping.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The identifier's text.
    public let rawValue: String

    /// A node id from its text; `nil` when the text breaks the rules above.
    public init?(_ rawValue: String) {
        guard Self.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// Whether `text` is a valid node id.
    public static func isValid(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard (1...64).contains(utf8.count) else { return false }
        return utf8.allSatisfy { byte in
            (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || byte == 95 || byte == 45
        }
    }

    public static func < (lhs: NodeID, rhs: NodeID) -> Bool {
        lhs.rawValue.utf8.lexicographicallyPrecedes(rhs.rawValue.utf8)
    }

    public var description: String { rawValue }
}
