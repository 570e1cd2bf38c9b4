/// The body of `POST /sync/_push`: `{"changes": [...], "sig": "..."}`, each change an `insert`,
/// `update` or `delete` frame object that carries our extensions (`metadata.changeId`,
/// `metadata.hlc`), and `sig`, optional, one signature of the sender over its own changes in it, as
/// in a `changes` frame (``ChangeSigner/frameSignature(for:)``).
///
/// Decoding checks the shape only; the server checks rights and signatures.
package struct PushRequest: Hashable, Sendable {
    /// The pushed changes, in the order sent.
    package var changes: [Change]
    /// The sender's signature over its own changes in the request.
    package var signature: ChangeSignature?

    /// A request for `changes`.
    package init(changes: [Change], signature: ChangeSignature? = nil) {
        self.changes = changes
        self.signature = signature
    }

    /// Decodes a body: `TOO_LARGE` past `maxBatchCount` changes, `INVALID_MESSAGE` when the body or
    /// any change is malformed or lacks a change id and HLC.
    package init(body: JSONObject, maxBatchCount: Int) throws(FrameError) {
        guard let list = body["changes"]?.arrayValue else { throw FrameError(.invalidMessage, "push needs \"changes\": [...]") }
        guard list.count <= maxBatchCount else { throw FrameError(.tooLarge, "more than \(maxBatchCount) changes") }
        var changes: [Change] = []
        changes.reserveCapacity(list.count)
        for item in list {
            guard let object = item.objectValue else { throw FrameError(.invalidMessage, "each change must be an object") }
            let message = try FrameCodec.changeMessage(from: object)
            guard let change = message.change else { throw FrameError(.invalidMessage, "pushed changes need metadata.changeId and metadata.hlc") }
            changes.append(change)
        }
        self.changes = changes
        signature = try body["sig"].map { value throws(FrameError) in try ChangeSignature(field: value, named: "sig") }
    }

    /// The body to send.
    package var body: JSONObject {
        var body: JSONObject = ["changes": .array(changes.map { .object(FrameCodec.object(for: .change(ChangeMessage($0)))) })]
        if let signature { body["sig"] = .string(signature.wireText) }
        return body
    }
}
