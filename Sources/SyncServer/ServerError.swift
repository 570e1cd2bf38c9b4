/// An error starting or running the server, with a code and a message a user can act on.
public struct ServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable { case configuration, startup }
        let base: Base
        /// A setting or file is wrong.
        public static let configuration = Code(base: .configuration)
        /// The server could not start (port taken, database unreadable).
        public static let startup = Code(base: .startup)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
