// libFuzzer entry for the JSON parser (built by scripts/fuzz with the SyncCore sources).
// Any input: parsing either fails with a JSONError or yields a value whose canonical text parses
// back to the same value. Reading the input's members (`parseMembers`, a frame's top level) agrees
// with parsing it: the same object in the same member order, `nil` for another value, and an error
// exactly when parsing fails, with the same code.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let parsed = Result { () throws(JSONError) -> JSONValue in try JSONParser().parse(bytes) }
    let members = Result { () throws(JSONError) -> JSONMembers? in try JSONParser().parseMembers(bytes) }
    switch (parsed, members) {
    case (.success(.object(let object)), .success(let members?)):
        precondition(members.object == object && members.members.count == object.count, "members differ from the parsed object")
    case (.success(.object), .success(nil)):
        fatalError("an object read as another value")
    case (.success, .success(let members)):
        precondition(members == nil, "a value that is not an object read as members")
    case (.failure(let error), .failure(let again)):
        precondition(error.code == again.code, "parse and parseMembers refuse with different codes: \(error) / \(again)")
    case (.success, .failure(let error)):
        fatalError("parseMembers refused what parse accepts: \(error)")
    case (.failure(let error), .success):
        fatalError("parseMembers accepted what parse refuses: \(error)")
    }
    guard case .success(let value) = parsed else { return 0 }
    let text = value.canonicalString
    guard let again = try? JSONParser().parse(Array(text.utf8)) else { fatalError("canonical text does not parse: \(text.prefix(200))") }
    precondition(again == value, "a value changed in a round trip")
    return 0
}
