// libFuzzer entry for the JSON parser (built by scripts/fuzz with the SyncCore sources).
// Any input: parsing either fails with a JSONError or yields a value whose canonical text parses
// back to the same value.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let value = try? JSONParser().parse(bytes) else { return 0 }
    let text = value.canonicalString
    guard let again = try? JSONParser().parse(Array(text.utf8)) else { fatalError("canonical text does not parse: \(text.prefix(200))") }
    precondition(again == value, "a value changed in a round trip")
    return 0
}
