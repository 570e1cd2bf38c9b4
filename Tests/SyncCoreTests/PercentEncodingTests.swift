import Foundation
import SyncCore
import Testing

/// Percent-encoding of ids, collection names and tokens in URLs: what passes, what is escaped, and
/// that decoding is the exact inverse (checked against Foundation's decoder).
@Suite struct PercentEncodingTests {
    @Test func unreservedCharactersPassAndEverythingElseIsEscaped() {
        #expect(PercentEncoding.encode("Abc-1.2_3~") == "Abc-1.2_3~")
        #expect(PercentEncoding.encode("a b/c?d#e&f=g+h%") == "a%20b%2Fc%3Fd%23e%26f%3Dg%2Bh%25")
        #expect(PercentEncoding.encode("café") == "caf%C3%A9")
        #expect(PercentEncoding.encode("") == "")
    }

    @Test func decodingInvertsEncodingForAnyText() {
        let samples = ["plain", "a b/c?d#e&f=g+h%", "café ☕️ 日本", "%%%", "100%", "\u{0}nul", "emoji 👩‍👩‍👧"]
        for sample in samples {
            let encoded = PercentEncoding.encode(sample)
            #expect(PercentEncoding.decode(encoded) == sample)
            #expect(encoded.removingPercentEncoding == sample, "Foundation reads what we write: \(encoded)")
        }
    }

    @Test func decodingAcceptsWhatOthersWriteAndRefusesMalformedEscapes() {
        #expect(PercentEncoding.decode("a%2fb%2Fc") == "a/b/c")
        #expect(PercentEncoding.decode("no-escapes here") == "no-escapes here")
        #expect(PercentEncoding.decode("caf%c3%a9") == "café")
        #expect(PercentEncoding.decode("bad%2") == nil)
        #expect(PercentEncoding.decode("bad%zz") == nil)
        #expect(PercentEncoding.decode("%FF%FE") == nil, "not UTF-8")
    }
}
