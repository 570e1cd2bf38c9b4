/// Why a frame was refused; its ``code`` maps onto the original protocol's error codes.
package struct FrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The original protocol's error codes, plus the ones it lacked.
    package struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        /// The token is missing or wrong.
        package static let authFailed = Code(rawValue: "AUTH_FAILED")
        /// The token has no right to the collection.
        package static let unauthorized = Code(rawValue: "UNAUTHORIZED")
        /// The frame is not valid JSON or not a valid frame.
        package static let invalidMessage = Code(rawValue: "INVALID_MESSAGE")
        /// The collection does not exist or is not served.
        package static let collectionNotFound = Code(rawValue: "COLLECTION_NOT_FOUND")
        /// The record does not exist.
        package static let recordNotFound = Code(rawValue: "RECORD_NOT_FOUND")
        /// Too many frames or bytes in too short a time.
        package static let rateLimitExceeded = Code(rawValue: "RATE_LIMIT_EXCEEDED")
        /// The frame, document or batch is larger than allowed.
        package static let tooLarge = Code(rawValue: "TOO_LARGE")
        /// The server failed; the client should retry.
        package static let serverError = Code(rawValue: "SERVER_ERROR")
        package var description: String { rawValue }
    }

    /// The error code sent on the wire.
    package let code: Code
    /// A message a person can act on.
    package let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(code): \(message)" }
}
