/// A strict JSON parser over UTF-8 bytes, bounded in size and nesting depth.
///
/// It accepts exactly RFC 8259 JSON (one value, optional surrounding white space), rejects duplicate
/// keys, invalid UTF-8 and lone surrogates, and never recurses deeper than ``Limits/maxDepth``, so
/// hostile input cannot exhaust the stack.
package struct JSONParser: Sendable {
    /// Bounds on what the parser accepts.
    package struct Limits: Sendable, Hashable {
        /// Largest input, in bytes.
        package var maxBytes: Int
        /// Deepest nesting of arrays and objects.
        package var maxDepth: Int

        package init(maxBytes: Int = 16 << 20, maxDepth: Int = 64) {
            self.maxBytes = maxBytes
            self.maxDepth = maxDepth
        }
    }

    /// The limits this parser enforces.
    package var limits: Limits

    package init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Parses one JSON value from `bytes`.
    package func parse<Bytes: Collection>(_ bytes: Bytes) throws(JSONError) -> JSONValue where Bytes.Element == UInt8 {
        try Self.withContiguous(bytes) { buffer throws(JSONError) in try parse(buffer: buffer) }
    }

    /// Parses one JSON value from a string.
    package func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Parses one JSON object; any other top-level value is a syntax error.
    package func parseObject<Bytes: Collection>(_ bytes: Bytes) throws(JSONError) -> JSONObject where Bytes.Element == UInt8 {
        try Self.object(parse(bytes))
    }

    /// Parses one JSON value from bytes in memory, such as a column SQLite returns. Not generic: a
    /// caller in another module would run the generic ``parse(_:)-(Bytes)`` unspecialized, looking
    /// its type's conformances up at run time, which cost a document read more than its parsing.
    package func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONError) -> JSONValue {
        try parse(buffer: bytes)
    }

    /// ``parseObject(_:)-(Bytes)`` for bytes in memory, not generic (``parse(_:)-(UnsafeBufferPointer<UInt8>)``).
    package func parseObject(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONError) -> JSONObject {
        try Self.object(parse(buffer: bytes))
    }

    /// ``parse(_:)-(UnsafeBufferPointer<UInt8>)`` for an array of bytes.
    package func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer in Result { () throws(JSONError) in try parse(buffer: buffer) } }.get()
    }

    /// ``parseObject(_:)-(UnsafeBufferPointer<UInt8>)`` for an array of bytes.
    package func parseObject(_ bytes: [UInt8]) throws(JSONError) -> JSONObject {
        try Self.object(parse(bytes))
    }

    private static func object(_ value: JSONValue) throws(JSONError) -> JSONObject {
        guard case .object(let object) = value else {
            throw JSONError(code: .syntax, offset: 0, message: "expected a JSON object")
        }
        return object
    }

    /// Parses one JSON value from `bytes` and, when it is an object, returns its members as they
    /// came (``JSONMembers``) instead of a dictionary; `nil` for any other valid value. For a
    /// reader that looks a few keys up once, such as a frame's top level.
    package func parseMembers<Bytes: Collection>(_ bytes: Bytes) throws(JSONError) -> JSONMembers? where Bytes.Element == UInt8 {
        try Self.withContiguous(bytes) { buffer throws(JSONError) in try parseMembers(buffer: buffer) }
    }

    /// Runs `body` on `bytes` as one buffer: their own storage when contiguous, else a copy.
    private static func withContiguous<Bytes: Collection, T>(
        _ bytes: Bytes, _ body: (UnsafeBufferPointer<UInt8>) throws(JSONError) -> T
    ) throws(JSONError) -> T where Bytes.Element == UInt8 {
        if let result = bytes.withContiguousStorageIfAvailable({ buffer in Result { () throws(JSONError) -> T in try body(buffer) } }) {
            return try result.get()
        }
        return try Array(bytes).withUnsafeBufferPointer { buffer in Result { () throws(JSONError) -> T in try body(buffer) } }.get()
    }

    private func parse(buffer: UnsafeBufferPointer<UInt8>) throws(JSONError) -> JSONValue {
        var reader = try JSONReader(checking: buffer, limits: limits)
        let value = try reader.readValue(depth: 0)
        try reader.expectEnd()
        return value
    }

    private func parseMembers(buffer: UnsafeBufferPointer<UInt8>) throws(JSONError) -> JSONMembers? {
        var reader = try JSONReader(checking: buffer, limits: limits)
        guard reader.index < buffer.count, buffer[reader.index] == UInt8(ascii: "{") else {
            _ = try reader.readValue(depth: 0)
            try reader.expectEnd()
            return nil
        }
        let members = try reader.readMembers(depth: 1)
        try reader.expectEnd()
        return members
    }
}

/// One JSON object's members in the order they came, each key once (checked when parsed): read by
/// looking a key up along them, where a dictionary would hash every key to build it and again to
/// look one up. For objects of a few members read once, such as a frame's top level.
package struct JSONMembers: Sendable {
    package let members: [(key: String, value: JSONValue)]

    /// The value of `key`, if the object has it.
    package subscript(key: String) -> JSONValue? {
        for member in members where member.key == key { return member.value }
        return nil
    }

    /// The same object as a dictionary.
    package var object: JSONObject {
        var object = JSONObject(minimumCapacity: members.count)
        for member in members { object[member.key] = member.value }
        return object
    }
}

/// How a decoder reads an object's members: from a dictionary, or from ``JSONMembers``.
package protocol JSONMemberLookup {
    subscript(key: String) -> JSONValue? { get }
}

extension Dictionary: JSONMemberLookup where Key == String, Value == JSONValue {}
extension JSONMembers: JSONMemberLookup {}

/// The cursor of one parse.
struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var index = 0
    /// The members of the objects being read, innermost last: an object's dictionary is built once
    /// its members are known, at its final size, instead of growing (and rehashing) key by key.
    private var members: [(key: String, value: JSONValue, offset: Int)] = []

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    /// A reader of a whole input within `limits`, at its first value.
    init(checking buffer: UnsafeBufferPointer<UInt8>, limits: JSONParser.Limits) throws(JSONError) {
        guard buffer.count <= limits.maxBytes else {
            throw JSONError(code: .tooLarge, offset: limits.maxBytes, message: "input of \(buffer.count) bytes exceeds the limit of \(limits.maxBytes)")
        }
        self.init(bytes: buffer, maxDepth: limits.maxDepth)
        skipWhitespace()
    }

    /// Nothing but white space follows the value read.
    mutating func expectEnd() throws(JSONError) {
        skipWhitespace()
        guard index == bytes.count else { throw error(.syntax, "unexpected bytes after the value") }
    }

    func error(_ code: JSONError.Code, _ message: String) -> JSONError {
        JSONError(code: code, offset: index, message: message)
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func readValue(depth: Int) throws(JSONError) -> JSONValue {
        guard index < bytes.count else { throw error(.syntax, "unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return .object(try readObject(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try readArray(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try readString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try readNumber()
        default: throw error(.syntax, "unexpected character")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw error(.syntax, "truncated literal") }
        let start = literal.utf8Start
        for offset in 0..<count where bytes[index + offset] != start[offset] {
            throw error(.syntax, "invalid literal")
        }
        index += count
    }

    mutating func readObject(depth: Int) throws(JSONError) -> JSONObject {
        let first = members.count
        // On an error part way, the members gathered so far are dropped; on success they are
        // moved into the object below, which leaves the stack as it was.
        defer { if members.count > first { members.removeLast(members.count - first) } }
        try gatherMembers(depth: depth)
        // Each member is moved off the stack into the object, last first: no copy of its key and
        // value, and nothing left on the stack to destroy. A key met again is one that a later
        // member of this object also has; the error points at this earlier one.
        var object = JSONObject(minimumCapacity: members.count - first)
        while members.count > first {
            let member = members.removeLast()
            if object.updateValue(member.value, forKey: member.key) != nil {
                throw JSONError(code: .duplicateKey, offset: member.offset, message: "duplicate key \"\(member.key)\"")
            }
        }
        return object
    }

    /// Reads an object as ``readObject(depth:)`` does, and returns its members in order without
    /// building a dictionary. Keys are checked unique by comparing them with each other, which
    /// for the few members of a frame costs less than hashing them; a larger object is checked
    /// through a set.
    mutating func readMembers(depth: Int) throws(JSONError) -> JSONMembers {
        let first = members.count
        defer { if members.count > first { members.removeLast(members.count - first) } }
        try gatherMembers(depth: depth)
        let count = members.count - first
        if count <= 16 {
            for later in first..<members.count {
                for earlier in first..<later where members[earlier].key == members[later].key {
                    let member = members[earlier]
                    throw JSONError(code: .duplicateKey, offset: member.offset, message: "duplicate key \"\(member.key)\"")
                }
            }
        } else {
            var seen = Set<String>(minimumCapacity: count)
            for member in members[first...] where !seen.insert(member.key).inserted {
                throw JSONError(code: .duplicateKey, offset: member.offset, message: "duplicate key \"\(member.key)\"")
            }
        }
        var list: [(key: String, value: JSONValue)] = []
        list.reserveCapacity(count)
        while members.count > first {
            let member = members.removeLast()
            list.append((member.key, member.value))
        }
        list.reverse()
        return JSONMembers(members: list)
    }

    /// Reads an object's members onto ``members`` (none for `{}`), the reader past its `}`.
    private mutating func gatherMembers(depth: Int) throws(JSONError) {
        guard depth <= maxDepth else { throw error(.tooDeep, "nesting deeper than \(maxDepth)") }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return
        }
        if members.capacity == 0 { members.reserveCapacity(16) }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error(.syntax, "expected a key") }
            let keyOffset = index
            let key = try readString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error(.syntax, "expected ':'") }
            index += 1
            skipWhitespace()
            let value = try readValue(depth: depth)
            members.append((key, value, keyOffset))
            skipWhitespace()
            guard index < bytes.count else { throw error(.syntax, "unterminated object") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; break }
            throw error(.syntax, "expected ',' or '}'")
        }
    }

    mutating func readArray(depth: Int) throws(JSONError) -> [JSONValue] {
        guard depth <= maxDepth else { throw error(.tooDeep, "nesting deeper than \(maxDepth)") }
        index += 1
        var array: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return array
        }
        while true {
            skipWhitespace()
            array.append(try readValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw error(.syntax, "unterminated array") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return array }
            throw error(.syntax, "expected ',' or ']'")
        }
    }

    /// A string of bytes known to be ASCII, copied without the UTF-8 validation (and repair)
    /// `String(decoding:as:)` does: most keys and values read are such.
    static func asciiString(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count) { buffer in
            guard let source = bytes.baseAddress, let target = buffer.baseAddress else { return 0 }
            target.update(from: source, count: bytes.count)
            return bytes.count
        }
    }

    mutating func readString() throws(JSONError) -> String {
        index += 1
        let start = index
        // Fast path: no escapes. A string of ASCII bytes only (most keys and values) needs no
        // UTF-8 validation, which goes through the generic validator otherwise.
        var bits: UInt8 = 0
        // Whole words without a special byte first (`PlainRun`); the loop below stops on it.
        if let base = bytes.baseAddress {
            let run = PlainRun.skip(base, from: index, to: bytes.count)
            index = run.index
            if run.nonASCII { bits = 0x80 }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if bits < 0x80 { return Self.asciiString(slice) }
                guard let string = String(validating: slice, as: UTF8.self) else {
                    throw JSONError(code: .invalidUTF8, offset: start, message: "string is not valid UTF-8")
                }
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw error(.syntax, "control character in string") }
            bits |= byte
            index += 1
        }
        guard index < bytes.count else { throw error(.syntax, "unterminated string") }
        var scratch = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = String(validating: scratch, as: UTF8.self) else {
                    throw JSONError(code: .invalidUTF8, offset: start, message: "string is not valid UTF-8")
                }
                return string
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw error(.syntax, "unterminated escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scratch.append(0x22)
                case UInt8(ascii: "\\"): scratch.append(0x5C)
                case UInt8(ascii: "/"): scratch.append(0x2F)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = UInt32(try readHex4())
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw error(.invalidUTF8, "lone high surrogate")
                        }
                        index += 2
                        let low = UInt32(try readHex4())
                        guard (0xDC00...0xDFFF).contains(low) else { throw error(.invalidUTF8, "invalid low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error(.invalidUTF8, "lone low surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error(.invalidUTF8, "invalid code point") }
                    scratch.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw error(.syntax, "invalid escape")
                }
            default:
                if byte < 0x20 { throw error(.syntax, "control character in string") }
                scratch.append(byte)
                index += 1
            }
        }
        throw error(.syntax, "unterminated string")
    }

    mutating func readHex4() throws(JSONError) -> UInt16 {
        guard bytes.count - index >= 4 else { throw error(.syntax, "truncated \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt16
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt16(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt16(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt16(byte - UInt8(ascii: "A") + 10)
            default: throw error(.syntax, "invalid hex digit")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    mutating func readNumber() throws(JSONError) -> JSONValue {
        let start = index
        var isInteger = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw error(.syntax, "truncated number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) {
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        } else {
            throw error(.syntax, "invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            let digits = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > digits else { throw error(.syntax, "expected digits after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > digits else { throw error(.syntax, "expected exponent digits") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if isInteger, let value = Int64(text) {
            return .int(value)
        }
        guard let value = Double(text), value.isFinite else {
            throw JSONError(code: .numberOutOfRange, offset: start, message: "number \(text.prefix(32)) is out of range")
        }
        return .double(value)
    }
}
