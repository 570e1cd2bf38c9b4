import SyncCore
/// A configuration that cannot work, naming the field at fault.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The ``SyncConfiguration`` field at fault (`"websocketURL"`, `"collections[2]"`, …).
    public let field: String
    /// What is wrong with it and what would be right.
    public let message: String

    /// Creates the error for `field`, named as ``SyncConfiguration/validate()`` names fields
    /// (`"mesh.port"`, `"collections[2]"`), with `message` saying what is wrong and what would be right.
    ///
    /// ``SyncConfiguration/validate()`` creates these; create one yourself to report a fault found by
    /// checks of your own in the same form.
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "invalid configuration: \(field): \(message)" }
}
