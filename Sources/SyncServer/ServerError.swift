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

    /// What kind of failure this is: a wrong setting or file (``Code/configuration``), or a server
    /// that could not start (``Code/startup``). Match on this, not on ``message``.
    public let code: Code
    /// What failed and why, for a person: the setting or file at fault and the underlying error.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
