/// The body of the original protocol's insert, `POST /sync/{collection}`:
/// `{"recordId": "...", "data": {...}}`. The server checks the record id and rights.
package struct LegacyInsertRequest: Hashable, Sendable {
    /// The record id, as sent.
    package var recordID: String
    /// The whole document.
    package var data: JSONObject

    /// Decodes a body: `INVALID_MESSAGE` without a string `recordId` and a `data` object.
    package init(body: JSONObject) throws(FrameError) {
        guard let id = body["recordId"]?.stringValue, let data = body["data"]?.objectValue else {
            throw FrameError(.invalidMessage, "the body needs \"recordId\" and a \"data\" object")
        }
        recordID = id
        self.data = data
    }
}

/// The body of the original protocol's update, `PATCH /sync/{collection}/{recordId}`:
/// `{"delta": {...}}`, the changed fields.
package struct LegacyUpdateRequest: Hashable, Sendable {
    /// The changed fields.
    package var delta: JSONObject

    /// Decodes a body: `INVALID_MESSAGE` without a `delta` object.
    package init(body: JSONObject) throws(FrameError) {
        guard let delta = body["delta"]?.objectValue else { throw FrameError(.invalidMessage, "the body needs a \"delta\" object") }
        self.delta = delta
    }
}

/// The query of the original protocol's pull, `GET /sync/{collection}?since=&limit=&offset=`.
///
/// Lenient, as the original server was: a value that does not parse reads as absent; `limit` is
/// clamped to 1...1,000 (100 when absent) and `offset` to 0 or more.
package struct LegacyPullQuery: Hashable, Sendable {
    /// Records updated after this time, in milliseconds since the epoch (0: all).
    package var since: UInt64
    /// The most records in one answer.
    package var limit: Int
    /// How many records to skip.
    package var offset: Int

    /// Reads the query's raw values (`nil` when a parameter is absent).
    package init(since: String?, limit: String?, offset: String?) {
        self.since = since.flatMap { ISO8601.millis(from: $0) } ?? 0
        self.limit = min(max(limit.flatMap { Int($0) } ?? 100, 1), 1000)
        self.offset = max(offset.flatMap { Int($0) } ?? 0, 0)
    }
}
