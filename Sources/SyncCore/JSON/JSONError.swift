/// Why a JSON text was rejected.
package struct JSONError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it is.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case syntax, tooDeep, tooLarge, invalidUTF8, duplicateKey, numberOutOfRange
        }
        let base: Base
        /// The text is not JSON.
        package static let syntax = Code(base: .syntax)
        /// Arrays and objects nest deeper than the parser's limit.
        package static let tooDeep = Code(base: .tooDeep)
        /// The text is longer than the parser's limit.
        package static let tooLarge = Code(base: .tooLarge)
        /// A string is not valid UTF-8 or holds a lone surrogate.
        package static let invalidUTF8 = Code(base: .invalidUTF8)
        /// An object names the same key twice.
        package static let duplicateKey = Code(base: .duplicateKey)
        /// A number is not finite as a Double.
        package static let numberOutOfRange = Code(base: .numberOutOfRange)
        package var description: String { base.rawValue }
    }

    /// What kind of problem it is.
    package let code: Code
    /// Byte offset in the input where it was found.
    package let offset: Int
    /// A message a person can act on.
    package let message: String

    package var description: String { "JSON \(code) at byte \(offset): \(message)" }
}
