/// The body of `POST /sync/_pull`: which collections, from which cursor, skipping what the caller
/// already holds (`cursorFor`, `cursor`, `vector`, `limit`, `collections`).
///
/// Lenient where the protocol is: a malformed `cursorFor` or `vector` reads as absent, and `limit`
/// is clamped to 1...5,000 (500 when absent). The server checks read rights per collection.
package struct PullRequest: Hashable, Sendable {
    /// The server the cursor belongs to; a cursor for another server means "from the start".
    package var cursorOwner: NodeID?
    /// The server sequence to continue after (0 when absent or negative).
    package var cursor: UInt64
    /// What the caller already holds, so the server can skip it.
    package var vector: VersionVector
    /// The most changes in one page.
    package var limit: Int
    /// The collections to pull, each once, in the order first listed; never empty once decoded.
    package var collections: [String]

    /// The most changes one page may ask for.
    package static let maxLimit = 5_000

    /// A request with these values.
    package init(cursorOwner: NodeID?, cursor: UInt64, vector: VersionVector, limit: Int, collections: [String]) {
        self.cursorOwner = cursorOwner
        self.cursor = cursor
        self.vector = vector
        self.limit = limit
        self.collections = collections
    }

    /// Decodes a body: `INVALID_MESSAGE` when `collections` is missing, empty, or lists anything
    /// but valid collection names.
    package init(body: JSONObject) throws(FrameError) {
        var collections: [String] = []
        for item in body["collections"]?.arrayValue ?? [] {
            guard let name = item.stringValue, Identifiers.problem(withCollection: name) == nil else {
                throw FrameError(.invalidMessage, "\"collections\" lists collection names")
            }
            if !collections.contains(name) { collections.append(name) }
        }
        if collections.isEmpty { throw FrameError(.invalidMessage, "pull needs \"collections\"") }
        self.init(
            cursorOwner: body["cursorFor"]?.stringValue.flatMap(NodeID.init),
            cursor: UInt64(max(0, body["cursor"]?.intValue ?? 0)),
            vector: body["vector"].flatMap(VersionVector.init(json:)) ?? VersionVector(),
            limit: Int(min(max(body["limit"]?.intValue ?? 500, 1), Int64(Self.maxLimit))),
            collections: collections)
    }

    /// The body to send.
    package var body: JSONObject {
        var body: JSONObject = ["cursor": .int(Int64(clamping: cursor)), "vector": vector.jsonValue, "limit": .int(Int64(limit)),
                                "collections": .array(collections.map { .string($0) })]
        if let cursorOwner { body["cursorFor"] = .string(cursorOwner.rawValue) }
        return body
    }
}
