import CAvahi
import Testing

@testable import SyncDiscovery

@Suite("TXTRecord: dictionary <-> AvahiStringList")
struct TXTRecordTests {
    @Test func roundTripKeepsEveryPair() {
        let txt = ["node": "n-1", "proto": "1", "team": "t", "uplink": "0", "empty": "", "utf8": "héllo=x"]
        let back = TXTRecord.withStringList(txt) { TXTRecord.dictionary(from: $0) }
        #expect(back == txt)
    }

    @Test func valuesAreWrittenByteForByte() {
        // Found by Fuzz/TXTFuzzer.swift: a value read with a NUL byte was written back cut short.
        let txt = ["node": "n-1", "blob": "a\0b", "empty": ""]
        #expect(TXTRecord.withStringList(txt) { TXTRecord.dictionary(from: $0) } == txt)
        let text = TXTRecord.withStringList(["empty": ""]) { list in
            let text = avahi_string_list_to_string(list)
            defer { avahi_free(text) }
            return text.map { String(cString: $0) }
        }
        #expect(text == "\"empty=\"")
    }

    @Test func keyWithoutValueReadsAsEmpty() {
        var list: UnsafeMutablePointer<AvahiStringList>? = avahi_string_list_add(nil, "flag")
        list = avahi_string_list_add(list, "node=abc")
        defer { avahi_string_list_free(list) }
        #expect(TXTRecord.dictionary(from: list) == ["flag": "", "node": "abc"])
    }

    @Test func emptyListIsEmptyDictionary() {
        #expect(TXTRecord.dictionary(from: nil) == [:])
    }
}
