/// What one bearer token may do.
public struct TokenRights: Sendable, Hashable {
    /// A set of collections, or every collection.
    public enum Collections: Sendable, Hashable {
        case all
        case only(Set<String>)

        /// Whether `collection` is in the set.
        public func contains(_ collection: String) -> Bool {
            switch self {
            case .all: return true
            case .only(let names): return names.contains(collection)
            }
        }
    }

    /// A name for logs and for `metadata.userId` (never the token itself).
    public let name: String
    /// Collections the token may read (pull, subscribe).
    public let read: Collections
    /// Collections the token may write.
    public let write: Collections

    /// Creates the rights of one token: its `name`, and the collections it may `read` and `write`.
    ///
    /// `name` appears in logs and as `metadata.userId`, never the token; the token is the key under which
    /// these rights go into ``TokenAuthority/init(tokens:)``. Reading and writing are checked separately:
    /// the right to write a collection does not include the right to read it.
    public init(name: String, read: Collections, write: Collections) {
        self.name = name
        self.read = read
        self.write = write
    }

    /// Every right: a server without a token file.
    public static let everything = TokenRights(name: "anonymous", read: .all, write: .all)
}
