import SyncCore
import SyncStore
/// An error from a node's API, with a code and a message a user can act on.
public struct SyncError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case notFound, invalidArgument, collectionNotConfigured, invalidDocument, invalidQuery, closed, storage
        }
        let base: Base
        /// The document does not exist.
        public static let notFound = Code(base: .notFound)
        /// An id, name or value breaks the rules.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// The collection is not in ``SyncConfiguration/collections``.
        public static let collectionNotConfigured = Code(base: .collectionNotConfigured)
        /// The document cannot be stored (non-finite number, too large, too deep).
        public static let invalidDocument = Code(base: .invalidDocument)
        /// The query cannot run.
        public static let invalidQuery = Code(base: .invalidQuery)
        /// The node was closed.
        public static let closed = Code(base: .closed)
        /// The local database failed.
        public static let storage = Code(base: .storage)
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// A message a user can act on.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }

    /// Maps a store error onto the node's error codes.
    static func from(_ error: any Error) -> any Error {
        guard let store = error as? StoreError else { return error }
        switch store.code {
        case .notFound: return SyncError(.notFound, store.message)
        case .invalidIdentifier: return SyncError(.invalidArgument, store.message)
        case .invalidDocument: return SyncError(.invalidDocument, store.message)
        case .invalidQuery: return SyncError(.invalidQuery, store.message)
        case .closed: return SyncError(.closed, store.message)
        default: return SyncError(.storage, store.description)
        }
    }
}

/// Runs a store call, translating its errors into ``SyncError``.
func translatingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw SyncError.from(error)
    }
}
