/// Why a JSON text was rejected.
public struct JSONError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case syntax, tooDeep, tooLarge, invalidUTF8, duplicateKey, numberOutOfRange
        }
        let base: Base
        /// The text is not JSON.
        public static let syntax = Code(base: .syntax)
        /// Arrays and objects nest deeper than the parser's limit.
        public static let tooDeep = Code(base: .tooDeep)
        /// The text is longer than the parser's limit.
        public static let tooLarge = Code(base: .tooLarge)
        /// A string is not valid UTF-8 or holds a lone surrogate.
        public static let invalidUTF8 = Code(base: .invalidUTF8)
        /// An object names the same key twice.
        public static let duplicateKey = Code(base: .duplicateKey)
        /// A number is not finite as a Double.
        public static let numberOutOfRange = Code(base: .numberOutOfRange)
        public var description: String { base.rawValue }
    }

    /// What kind of problem it is.
    public let code: Code
    /// Byte offset in the input where it was found.
    public let offset: Int
    /// A message a person can act on.
    public let message: String

    public var description: String { "JSON \(code) at byte \(offset): \(message)" }
}
