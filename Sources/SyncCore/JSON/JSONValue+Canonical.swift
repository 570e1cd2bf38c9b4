extension JSONValue {
    /// The canonical UTF-8 encoding: no white space, object keys sorted by their UTF-8 bytes,
    /// integers as integers, doubles in Swift's shortest round-trip form.
    ///
    /// Equal values always give identical bytes; digests and signatures are taken over this form.
    package var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        appendCanonical(to: &out)
        return out
    }

    /// The canonical encoding as a `String`.
    package var canonicalString: String {
        String(decoding: canonicalBytes, as: UTF8.self)
    }

    /// Appends the canonical encoding to `out`.
    package func appendCanonical(to out: inout [UInt8]) {
        switch self {
        case .null:
            out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let value):
            if value {
                out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
            } else {
                out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
            }
        case .int(let value):
            out.append(contentsOf: String(value).utf8)
        case .double(let value):
            if value.isFinite {
                out.append(contentsOf: value.description.utf8)
            } else {
                out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
            }
        case .string(let value):
            Self.appendQuoted(value, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.appendCanonical(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            Self.appendCanonical(object: object, to: &out)
        }
    }

    /// Appends the canonical encoding of an object (keys sorted) to `out`.
    package static func appendCanonical(object: JSONObject, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        for (key, value) in object.sorted(by: { utf8Less($0.key, $1.key) }) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            appendQuoted(key, to: &out)
            out.append(UInt8(ascii: ":"))
            value.appendCanonical(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The canonical encoding of an object as a `String`.
    package static func canonicalString(object: JSONObject) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(16 * object.count + 2)
        appendCanonical(object: object, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Orders strings by their UTF-8 bytes, the order canonical encoding uses for keys.
    @inlinable
    package static func utf8Less(_ lhs: String, _ rhs: String) -> Bool {
        // Native and small strings are contiguous UTF-8: compare the bytes directly instead of
        // through the views' iterators (keys are sorted for every object encoded).
        let fast = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right in
                for index in 0..<min(left.count, right.count) where left[index] != right[index] {
                    return left[index] < right[index]
                }
                return left.count < right.count
            }
        }
        if case let result?? = fast { return result }
        return lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }

    /// Whether `bytes` hold a quote, a backslash or a control character, the bytes a JSON string
    /// literal escapes.
    static func needsEscaping(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        var index = PlainRun.skip(base, from: 0, to: bytes.count).index
        while index < bytes.count {
            if PlainRun.isSpecial(base[index]) { return true }
            index += 1
        }
        return false
    }

    /// Appends `value` as a JSON string literal, escaping quotes, backslashes and control characters.
    package static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Fast path: nothing to escape, copy the bytes in one go. Native and small strings are
        // contiguous UTF-8, scanned as a buffer rather than through the view's iterator.
        let copied = value.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            if needsEscaping(bytes) { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSONValue: CustomStringConvertible {
    /// The canonical JSON text.
    public var description: String { canonicalString }
}
