/// An error from the local store, with a code and a message a user can act on.
package struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case closed, notFound, invalidIdentifier, invalidDocument, invalidQuery, corrupted, database
        }
        let base: Base
        /// The store was closed.
        package static let closed = Code(base: .closed)
        /// The document does not exist.
        package static let notFound = Code(base: .notFound)
        /// A collection name or record id breaks the rules.
        package static let invalidIdentifier = Code(base: .invalidIdentifier)
        /// A document cannot be stored (non-finite number, too large).
        package static let invalidDocument = Code(base: .invalidDocument)
        /// A query cannot be run (bad path, bad operand).
        package static let invalidQuery = Code(base: .invalidQuery)
        /// Stored data could not be read back.
        package static let corrupted = Code(base: .corrupted)
        /// SQLite failed; the underlying error is in ``StoreError/underlying``.
        package static let database = Code(base: .database)
        package var description: String { base.rawValue }
    }

    /// What went wrong.
    package let code: Code
    /// A message a user can act on.
    package let message: String
    /// The SQLite error behind it, if any.
    package let underlying: SQLiteError?

    package init(_ code: Code, _ message: String, underlying: SQLiteError? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    static let closed = StoreError(.closed, "the store is closed")

    package var description: String { "\(code): \(message)" }
}
