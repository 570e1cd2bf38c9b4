import SyncCore
import Testing

@Suite struct JSONParserTests {
    let parser = JSONParser()

    @Test func parsesEveryKindOfValue() throws {
        let value = try parser.parse(#" {"s":"h\u00e9\n\"q\"","i":-12,"d":1.5e2,"t":true,"f":false,"n":null,"a":[1,[2]],"o":{"k":{}}} "#)
        #expect(value == ["s": "hé\n\"q\"", "i": -12, "d": 150.0, "t": true, "f": false, "n": nil, "a": [1, [2]], "o": ["k": [:]]])
    }

    /// The stores take the checked encoding of a document's fields (``DocumentRules/encode(_:maxDepth:)``)
    /// as their canonical encoding: byte for byte the same, for every kind of value, key order
    /// by UTF-8 bytes included.
    @Test func aDocumentsCheckedEncodingIsItsCanonicalEncoding() throws {
        let documents: [JSONObject] = [
            [:],
            ["b": 1, "a": -2.5, "é": "ü\u{1}\"", "Z": nil, "t": true, "f": false],
            ["nested": ["z": [1, ["y": [:], "x": []], "s"], "a": ["k": 1e300]], "\u{10FFFF}": "\u{10FFFF}", "a\u{0}b": 0],
            ["int": .int(Int64.max), "small": .int(Int64.min), "tiny": .double(Double.leastNonzeroMagnitude), "pi": 3.141592653589793],
        ]
        for document in documents {
            #expect(try DocumentRules.encode(document, maxDepth: 24).get() == JSONValue.object(document).canonicalBytes)
        }
    }

    /// The overloads for bytes in memory (a buffer, an array), which other modules call instead of
    /// the generic one, read exactly what the generic one reads, and refuse what it refuses with
    /// the same error.
    @Test(arguments: [
        #"{"n":1,"text":"Buy milk","nested":{"a":[1,2.5,null,true]}}"#, #"{}"#, #"[1,2]"#, #""s""#, #"{"a":1,}"#, #"{"a":1}x"#, "",
        #"{"a":"\u00e9"}"#, #"{"a":1,"a":2}"#,
    ])
    func theOverloadsForBytesInMemoryReadWhatTheGenericOneReads(text: String) {
        let bytes = Array(text.utf8)
        let generic = Result { () throws(JSONError) in try parser.parse(bytes.lazy.map { $0 }) }
        let array = Result { () throws(JSONError) in try parser.parse(bytes) }
        let buffer = bytes.withUnsafeBufferPointer { buffer in Result { () throws(JSONError) in try parser.parse(buffer) } }
        #expect(array == generic && buffer == generic, "\(text)")
        let genericObject = Result { () throws(JSONError) in try parser.parseObject(bytes.lazy.map { $0 }) }
        let arrayObject = Result { () throws(JSONError) in try parser.parseObject(bytes) }
        let bufferObject = bytes.withUnsafeBufferPointer { buffer in Result { () throws(JSONError) in try parser.parseObject(buffer) } }
        #expect(arrayObject == genericObject && bufferObject == genericObject, "\(text)")
    }

    @Test func keepsIntegersAndDoublesApart() throws {
        #expect(try parser.parse("1") == .int(1))
        #expect(try parser.parse("1.0") == .double(1.0))
        #expect(try parser.parse("9223372036854775807") == .int(.max))
        #expect(try parser.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try parser.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "tru", "nul", "\"abc", "\"\\x\"", "{\"a\" 1}",
        "[1 2]", "\"\u{01}\"", "{\"a\":1}x", "\"\\ud800\"", "\"\\udc00\"", "1e999", "{1:2}", "NaN", "[", "{\"a\":1,\"a\":2}",
    ])
    func rejectsInvalidText(_ text: String) {
        #expect(throws: JSONError.self) { try parser.parse(text) }
    }

    @Test func rejectsInvalidUTF8() throws {
        #expect(throws: JSONError.self) { try parser.parse([0x22, 0xFF, 0xFE, 0x22]) }
        // An overlong encoding of "/", in a value and in a key, after ASCII bytes.
        #expect(throws: JSONError.self) { try parser.parse([0x22, 0x61, 0xC0, 0xAF, 0x22]) }
        #expect(throws: JSONError.self) { try parser.parse([0x7B, 0x22, 0x61, 0xED, 0xA0, 0x80, 0x22, 0x3A, 0x31, 0x7D]) }
        // ASCII-only strings take the path without validation; their text is unchanged.
        #expect(try parser.parse(#"{"key":"plain ascii ~"}"#) == ["key": "plain ascii ~"])
    }

    /// Strings are scanned eight bytes at a time up to their first special byte: whatever its
    /// position, an invalid UTF-8 byte is refused, a raw control character is refused, an escape
    /// is decoded, and multi-byte text is kept.
    @Test func readsEachSpecialByteAtEveryPosition() throws {
        for length in 1...20 {
            for position in 0..<length {
                var bytes = [UInt8](repeating: 0x61, count: length)
                bytes[position] = 0xFF
                #expect(throws: JSONError.self) { try parser.parse([0x22] + bytes + [0x22]) }
                bytes[position] = 0x01
                #expect(throws: JSONError.self) { try parser.parse([0x22] + bytes + [0x22]) }
                bytes[position] = 0x5C
                bytes.insert(0x6E, at: position + 1)
                var expected = String(repeating: "a", count: length)
                expected.replaceSubrange(expected.index(expected.startIndex, offsetBy: position)..<expected.index(expected.startIndex, offsetBy: position + 1), with: "\n")
                #expect(try parser.parse([0x22] + bytes + [0x22]) == .string(expected))
                let text = String(repeating: "a", count: position) + "é" + String(repeating: "z", count: length)
                #expect(try parser.parse(#""\#(text)""#) == .string(text))
            }
        }
    }

    /// Members are gathered for each object apart, nested ones included: a key repeated inside
    /// one object is refused, the same key in an object and in the object it holds is not.
    @Test func duplicateKeysAreFoundPerObject() throws {
        #expect(try parser.parse(#"{"a":{"a":{"a":1},"b":2},"b":[{"a":3}]}"#)
            == ["a": ["a": ["a": 1], "b": 2], "b": [["a": 3]]])
        let repeated = #"{"a":{"b":1,"c":{"d":2},"b":3}}"#
        let error = #expect(throws: JSONError.self) { try parser.parse(repeated) }
        // The error points at one of the repeated key's occurrences.
        #expect(error?.code == .duplicateKey)
        #expect(error.map { Array(repeated.utf8.dropFirst($0.offset).prefix(3)) } == Array(#""b""#.utf8))
        #expect(throws: JSONError.self) { try parser.parse(#"{"x":{"y":1},"x":2}"#) }
    }

    /// ``JSONParser/parseMembers(_:)`` (a frame's top level) reads what ``JSONParser/parse(_:)``
    /// reads: the same members in the order they came, the same refusals, and `nil` for a value
    /// that is not an object. Repeated keys are found by comparing the keys of a small object and
    /// through a set for a larger one; either way the error points at an occurrence of the key.
    @Test func membersAreWhatTheObjectHoldsInOrder() throws {
        let text = #" {"type":"insert","data":{"b":1,"a":[2]},"n":null,"z":-1.5} "#
        let members = try #require(try parser.parseMembers(Array(text.utf8)))
        #expect(members.members.map(\.key) == ["type", "data", "n", "z"])
        #expect(members.object == (try parser.parseObject(Array(text.utf8))))
        #expect(members["data"] == ["b": 1, "a": [2]] && members["n"] == .null && members["missing"] == nil)
        #expect(try parser.parseMembers(Array("{}".utf8))?.members.isEmpty == true)
        for other in ["[1]", "\"s\"", "3", "null"] {
            #expect(try parser.parseMembers(Array(other.utf8)) == nil)
        }
        for bad in [#"{"a":1} x"#, #"{"a":1"#, #"{"a" 1}"#, "", #"{"a":1}{"#] {
            #expect(throws: JSONError.self) { try parser.parseMembers(Array(bad.utf8)) }
        }
        #expect { try JSONParser(limits: .init(maxBytes: 8)).parseMembers(Array(#"{"a":"123456"}"#.utf8)) } throws: {
            ($0 as? JSONError)?.code == .tooLarge
        }
        #expect { try JSONParser(limits: .init(maxDepth: 2)).parseMembers(Array(#"{"a":{"b":{}}}"#.utf8)) } throws: {
            ($0 as? JSONError)?.code == .tooDeep
        }
        let many = (0..<40).map { #""k\#($0)":\#($0)"# }
        for (count, repeatAt) in [(3, 2), (16, 15), (17, 16), (40, 39), (40, 1)] {
            let unique = "{" + many.prefix(count).joined(separator: ",") + "}"
            #expect(try parser.parseMembers(Array(unique.utf8))?.members.count == count)
            // The last member's key made the same as the first's.
            var keys = Array(many.prefix(count))
            keys[repeatAt] = #""k0":"# + "\(repeatAt)"
            let repeated = "{" + keys.joined(separator: ",") + "}"
            let error = #expect(throws: JSONError.self) { try parser.parseMembers(Array(repeated.utf8)) }
            #expect(error?.code == .duplicateKey)
            #expect(error.map { Array(repeated.utf8.dropFirst($0.offset).prefix(4)) } == Array(#""k0""#.utf8))
        }
    }

    @Test func boundsNestingDepth() throws {
        let limited = JSONParser(limits: .init(maxDepth: 10))
        let deep = String(repeating: "[", count: 11) + String(repeating: "]", count: 11)
        #expect(throws: JSONError.self) { try limited.parse(deep) }
        let ok = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect(try limited.parse(ok) != .null)
        // A hostile depth far beyond the stack's reach is refused, not a crash.
        let hostile = String(repeating: "[", count: 1_000_000)
        #expect(throws: JSONError.self) { try parser.parse(hostile) }
    }

    @Test func boundsSize() {
        let limited = JSONParser(limits: .init(maxBytes: 8))
        #expect(throws: JSONError.self) { try limited.parse("\"0123456789\"") }
    }

    @Test func canonicalEncodingSortsKeysAndRoundTrips() throws {
        let value: JSONValue = ["b": [1, 2.5, "x\u{1}"], "a": ["z": nil, "y": true], "é": "ü"]
        let text = value.canonicalString
        #expect(text == #"{"a":{"y":true,"z":null},"b":[1,2.5,"x\u0001"],"é":"ü"}"#)
        #expect(try parser.parse(text) == value)
        #expect(try parser.parse(text).canonicalString == text)
    }

    @Test func objectKeysAreOrderedByTheirUTF8Bytes() {
        // A prefix first, then byte order, which for non-ASCII differs from comparing characters.
        let keys = ["ab", "a", "é", "z", "\u{1F600}", "Z", "", "e\u{301}"]
        let sorted = keys.sorted(by: JSONValue.utf8Less)
        #expect(sorted == keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        #expect(sorted.prefix(4) == ["", "Z", "a", "ab"])
    }

    @Test func dotPathsReachNestedFields() {
        let value: JSONValue = ["address": ["city": "Oslo"]]
        #expect(value.value(atPath: "address.city") == "Oslo")
        #expect(value.value(atPath: "address.zip") == nil)
    }

    /// Every byte a string literal must escape is escaped wherever it stands in the string (the
    /// scan for one goes eight bytes at a time), and nothing else is: the canonical text is the
    /// reference escaping's, and it parses back to the string.
    @Test func escapesEachSpecialByteAtEveryPosition() throws {
        func reference(_ value: String) -> String {
            var out = "\""
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case "\u{00}"..."\u{1F}": out += "\\u00" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        let specials: [Character] = ["\"", "\\", "\n", "\u{01}", "\u{1F}", "\u{00}"]
        // ASCII around the special byte, and two-byte characters (bytes of 0x80 and above, never special).
        let cases = (1...20).flatMap { length in (0..<length).map { (length, $0) } }
        for (length, position) in cases {
            for special in specials {
                for filler in [Character("a"), Character("é")] {
                    var characters = Array(repeating: filler, count: length)
                    characters[position] = special
                    let value = String(characters)
                    #expect(JSONValue.string(value).canonicalString == reference(value), "\(length) \(position)")
                    #expect(try JSONParser().parse(JSONValue.string(value).canonicalString) == .string(value))
                }
            }
        }
        for length in 0...20 {
            let plain = String(repeating: "a", count: length) + String(repeating: "\u{7F}é ~", count: length % 5)
            #expect(JSONValue.string(plain).canonicalString == reference(plain))
        }
    }
}
