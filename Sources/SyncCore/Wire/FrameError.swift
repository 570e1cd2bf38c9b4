/// Why a frame was refused; its ``code`` maps onto the original protocol's error codes.
public struct FrameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The original protocol's error codes, plus the ones it lacked.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The token is missing or wrong.
        public static let authFailed = Code(rawValue: "AUTH_FAILED")
        /// The token has no right to the collection.
        public static let unauthorized = Code(rawValue: "UNAUTHORIZED")
        /// The frame is not valid JSON or not a valid frame.
        public static let invalidMessage = Code(rawValue: "INVALID_MESSAGE")
        /// The collection does not exist or is not served.
        public static let collectionNotFound = Code(rawValue: "COLLECTION_NOT_FOUND")
        /// The record does not exist.
        public static let recordNotFound = Code(rawValue: "RECORD_NOT_FOUND")
        /// Too many frames or bytes in too short a time.
        public static let rateLimitExceeded = Code(rawValue: "RATE_LIMIT_EXCEEDED")
        /// The frame, document or batch is larger than allowed.
        public static let tooLarge = Code(rawValue: "TOO_LARGE")
        /// The server failed; the client should retry.
        public static let serverError = Code(rawValue: "SERVER_ERROR")
        public var description: String { rawValue }
    }

    /// The error code sent on the wire.
    public let code: Code
    /// A message a person can act on.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
