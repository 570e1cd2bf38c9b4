import SyncCore
/// A configuration that cannot work, naming the field at fault.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The ``SyncConfiguration`` field at fault (`"websocketURL"`, `"collections[2]"`, …).
    public let field: String
    /// What is wrong with it and what would be right.
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "invalid configuration: \(field): \(message)" }
}
