/// An error from the local store, with a code and a message a user can act on.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case closed, notFound, invalidIdentifier, invalidDocument, invalidQuery, corrupted, database
        }
        let base: Base
        /// The store was closed.
        public static let closed = Code(base: .closed)
        /// The document does not exist.
        public static let notFound = Code(base: .notFound)
        /// A collection name or record id breaks the rules.
        public static let invalidIdentifier = Code(base: .invalidIdentifier)
        /// A document cannot be stored (non-finite number, too large).
        public static let invalidDocument = Code(base: .invalidDocument)
        /// A query cannot be run (bad path, bad operand).
        public static let invalidQuery = Code(base: .invalidQuery)
        /// Stored data could not be read back.
        public static let corrupted = Code(base: .corrupted)
        /// SQLite failed; the underlying error is in ``StoreError/underlying``.
        public static let database = Code(base: .database)
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// A message a user can act on.
    public let message: String
    /// The SQLite error behind it, if any.
    public let underlying: SQLiteError?

    init(_ code: Code, _ message: String, underlying: SQLiteError? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    static let closed = StoreError(.closed, "the store is closed")

    public var description: String { "\(code): \(message)" }
}
