// libFuzzer entry for the server's REST request bodies (built by scripts/fuzz with the SyncCore
// sources). Input: a request body, parsed with the server's default limits (1 MiB, depth 32) as
// `JSONResponse.body` does, then given to every body decoder; the input as text is also a query
// value of the original protocol's pull. Properties: a push body that decodes, encoded again (each change as FrameCodec's frame object) and decoded, gives the same
// changes, and so does a pull body; `since` times survive a round trip through ISO 8601 text.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzREST(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    checkLegacyQuery(LegacyPullQuery(since: text, limit: text, offset: text))
    guard let body = try? JSONParser(limits: .init(maxBytes: 1 << 20, maxDepth: 32)).parseObject(bytes) else { return 0 }

    if let push = try? PushRequest(body: body, maxBatchCount: 1000) {
        guard push.changes.count <= 1000 else { fatalError("a push of \(push.changes.count) changes passed the limit") }
        let again: PushRequest
        do {
            let encoded = try JSONParser(limits: .init(maxBytes: 16 << 20, maxDepth: 32)).parseObject(JSONValue.object(push.body).canonicalBytes)
            again = try PushRequest(body: encoded, maxBatchCount: 1000)
        } catch {
            fatalError("a decoded push does not decode after encoding: \(error)")
        }
        guard again == push else { fatalError("a push changed in a round trip: \(push.changes) became \(again.changes)") }
    }
    if let pull = try? PullRequest(body: body) {
        guard !pull.collections.isEmpty, (1...PullRequest.maxLimit).contains(pull.limit) else { fatalError("pull decoded out of range: \(pull)") }
        guard (try? PullRequest(body: pull.body)) == pull else { fatalError("a pull changed in a round trip: \(pull)") }
    }
    if let insert = try? LegacyInsertRequest(body: body), insert.data != body["data"]?.objectValue {
        fatalError("an insert lost its data")
    }
    if let update = try? LegacyUpdateRequest(body: body), update.delta != body["delta"]?.objectValue {
        fatalError("an update lost its delta")
    }
    let query = LegacyPullQuery(since: body["since"]?.stringValue, limit: body["limit"]?.stringValue, offset: body["offset"]?.stringValue)
    checkLegacyQuery(query)
    return 0
}

/// The legacy pull's values are in range, and a `since` time reads back from its ISO 8601 text.
func checkLegacyQuery(_ query: LegacyPullQuery) {
    guard (1...1000).contains(query.limit), query.offset >= 0 else { fatalError("legacy pull out of range: \(query)") }
    let text = ISO8601.string(fromMillis: query.since)
    guard ISO8601.millis(from: text) == query.since else { fatalError("since \(query.since) reads back from \(text) as \(String(describing: ISO8601.millis(from: text)))") }
}
