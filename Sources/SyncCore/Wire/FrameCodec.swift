/// Encodes frames to JSON text and decodes them strictly, within size and depth limits.
///
/// Decoding never traps: anything that is not a well-formed frame becomes a ``FrameError`` with
/// code `INVALID_MESSAGE` (or `TOO_LARGE`), which the receiver logs, counts and answers.
package struct FrameCodec: Sendable {
    /// Largest frame accepted, in bytes.
    package var maxFrameBytes: Int
    /// Deepest JSON nesting accepted.
    package var maxDepth: Int
    /// Most changes accepted in one `changes` frame.
    package var maxBatchCount: Int

    package init(maxFrameBytes: Int = 1 << 20, maxDepth: Int = 32, maxBatchCount: Int = 10_000) {
        self.maxFrameBytes = maxFrameBytes
        self.maxDepth = maxDepth
        self.maxBatchCount = maxBatchCount
    }

    // MARK: Encoding

    /// The frame as UTF-8 JSON bytes.
    ///
    /// Change messages (alone or in a batch: every change a server commits, every catch-up page, a
    /// node's uploads) are written directly in canonical key order, without building and sorting
    /// their objects; other frames go through `object(for:)`. The bytes are the same either way.
    package func encode(_ frame: Frame) -> [UInt8] {
        var out: [UInt8] = []
        switch frame {
        case .change(let message):
            out.reserveCapacity(320)
            Self.append(message, to: &out)
        case .changes(let batch):
            // {"data":{"changes":[…],"cursor":N,"mac":"…","sig":"…"},"type":"changes"}
            out.reserveCapacity(64 + 320 * batch.changes.count)
            out.append(contentsOf: #"{"data":{"changes":["#.utf8)
            for (index, message) in batch.changes.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.append(message, to: &out)
            }
            out.append(UInt8(ascii: "]"))
            if let cursor = batch.cursor {
                out.append(contentsOf: #","cursor":"#.utf8)
                out.append(contentsOf: String(Int64(clamping: cursor)).utf8)
            }
            if let code = batch.code {
                out.append(contentsOf: #","mac":""#.utf8)
                out.append(contentsOf: Base64.encode(code).utf8)  // base64: nothing to escape
                out.append(UInt8(ascii: "\""))
            }
            if let signature = batch.signature {
                out.append(contentsOf: #","sig":""#.utf8)
                out.append(contentsOf: signature.wireText.utf8)  // base64: nothing to escape
                out.append(UInt8(ascii: "\""))
            }
            out.append(contentsOf: #"},"type":"changes"}"#.utf8)
        default:
            JSONValue.object(Self.object(for: frame)).appendCanonical(to: &out)
        }
        return out
    }

    /// The frame of a stored change, the bytes of `encode(.change(ChangeMessage(change, serverSeq:)))`
    /// written straight from the change: no message and no metadata object are built (the server
    /// encodes one for every change it commits). Its metadata keys in sorted order: changeId, hlc,
    /// serverSeq, sig, version. `canonicalFields`, when given, must be the canonical bytes of
    /// `change.fields` (`JSONValue.object(change.fields).canonicalBytes`): they are written as they are.
    package static func encode(change: Change, serverSeq: UInt64?, canonicalFields: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(320)
        appendChange(collection: change.collection, recordID: change.recordID, kind: change.kind,
                     data: change.kind == .delete ? nil : change.fields,
                     encodedData: change.kind == .delete ? nil : canonicalFields,
                     timestamp: ISO8601.string(fromMillis: change.hlc.wallMillis), to: &out) { out in
            // A change id and an HLC have nothing to escape: their bytes go in as they are.
            out.append(contentsOf: #","metadata":{"changeId":""#.utf8)
            change.id.appendText(to: &out)
            out.append(contentsOf: #"","hlc":""#.utf8)
            change.hlc.appendHex(to: &out)
            out.append(UInt8(ascii: "\""))
            let sequence = serverSeq.map { String(Int64(clamping: $0)) }
            if let sequence {
                out.append(contentsOf: #","serverSeq":"#.utf8)
                out.append(contentsOf: sequence.utf8)
            }
            if let signature = change.signature {
                out.append(contentsOf: #","sig":"#.utf8)
                JSONValue.appendQuoted(signature.wireText, to: &out)
            }
            if let sequence {
                out.append(contentsOf: #","version":"#.utf8)
                out.append(contentsOf: sequence.utf8)
            }
            out.append(UInt8(ascii: "}"))
        }
        return out
    }

    /// Appends a change message's canonical bytes, those of `object(for: message)`.
    private static func append(_ message: ChangeMessage, to out: inout [UInt8]) {
        appendChange(collection: message.collection, recordID: message.recordID, kind: message.kind, data: message.data,
                     timestamp: message.timestamp, to: &out) { out in
            guard !message.metadata.isEmpty else { return }
            out.append(contentsOf: #","metadata":"#.utf8)
            JSONValue.appendCanonical(object: message.metadata, to: &out)
        }
    }

    /// A change message's keys in canonical order (collection, data, metadata, recordId, timestamp,
    /// type); `metadata` appends `,"metadata":{…}` (or nothing) in its place.
    /// `encodedData`, when given, is `data`'s canonical encoding.
    private static func appendChange(collection: String, recordID: String, kind: Change.Kind, data: JSONObject?,
                                     encodedData: [UInt8]? = nil, timestamp: String?,
                                     to out: inout [UInt8], metadata: (inout [UInt8]) -> Void) {
        out.append(contentsOf: #"{"collection":"#.utf8)
        JSONValue.appendQuoted(collection, to: &out)
        if let encodedData {
            out.append(contentsOf: #","data":"#.utf8)
            out.append(contentsOf: encodedData)
        } else if let data {
            out.append(contentsOf: #","data":"#.utf8)
            JSONValue.appendCanonical(object: data, to: &out)
        }
        metadata(&out)
        out.append(contentsOf: #","recordId":"#.utf8)
        JSONValue.appendQuoted(recordID, to: &out)
        if let timestamp {
            out.append(contentsOf: #","timestamp":"#.utf8)
            JSONValue.appendQuoted(timestamp, to: &out)
        }
        out.append(contentsOf: #","type":"#.utf8)
        JSONValue.appendQuoted(kind.rawValue, to: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// The frame as a JSON string.
    package func encodeString(_ frame: Frame) -> String {
        String(decoding: encode(frame), as: UTF8.self)
    }

    /// The frame as a JSON object (before encoding).
    package static func object(for frame: Frame) -> JSONObject {
        switch frame {
        case .subscribe(let collection): return ["type": "subscribe", "collection": .string(collection)]
        case .unsubscribe(let collection): return ["type": "unsubscribe", "collection": .string(collection)]
        case .subscribed(let collection): return ["type": "subscribed", "collection": .string(collection)]
        case .unsubscribed(let collection): return ["type": "unsubscribed", "collection": .string(collection)]
        case .change(let message): return object(for: message)
        case .ping(let time):
            return time.map { ["type": "ping", "metadata": ["time": .int(Int64(clamping: $0))]] } ?? ["type": "ping"]
        case .pong(let time):
            return time.map { ["type": "pong", "metadata": ["time": .int(Int64(clamping: $0))]] } ?? ["type": "pong"]
        case .sync(let collection, let records):
            let list: [JSONValue] = records.map { record in
                var object: JSONObject = ["id": .string(record.id), "data": .object(record.data)]
                if let version = record.version { object["version"] = .int(version) }
                if let updatedAt = record.updatedAt { object["updatedAt"] = .string(updatedAt) }
                return .object(object)
            }
            return ["type": "sync", "collection": .string(collection), "data": ["records": .array(list)]]
        case .error(let error):
            return ["type": "error", "code": .string(error.code.rawValue), "error": .string(error.message)]
        case .auth(let token): return ["type": "auth", "token": .string(token)]
        case .authenticated: return ["type": "authenticated"]
        case .hello(let hello):
            var data: JSONObject = ["nodeId": .string(hello.nodeID.rawValue), "protocol": .int(Int64(hello.protocolVersion)),
                                    "vector": hello.vector.jsonValue]
            if let cursor = hello.cursor { data["cursor"] = .int(Int64(clamping: cursor)) }
            if let owner = hello.cursorOwner { data["cursorFor"] = .string(owner.rawValue) }
            if let time = hello.time { data["time"] = .int(Int64(clamping: time)) }
            if !hello.collections.isEmpty { data["collections"] = .array(hello.collections.map { .string($0) }) }
            if let key = hello.frameKey { data["key"] = .string(Base64.encode(key)) }
            return ["type": "hello", "data": .object(data)]
        case .changes(let batch):
            var data: JSONObject = ["changes": .array(batch.changes.map { .object(object(for: $0)) })]
            if let cursor = batch.cursor { data["cursor"] = .int(Int64(clamping: cursor)) }
            if let signature = batch.signature { data["sig"] = .string(signature.wireText) }
            if let code = batch.code { data["mac"] = .string(Base64.encode(code)) }
            return ["type": "changes", "data": .object(data)]
        case .ack(let ack):
            var data: JSONObject = ["committed": .object(Dictionary(uniqueKeysWithValues: ack.committed.map {
                ($0.key.description, JSONValue.int(Int64(clamping: $0.value)))
            }))]
            if !ack.rejected.isEmpty {
                data["rejected"] = .object(Dictionary(uniqueKeysWithValues: ack.rejected.map {
                    ($0.key.description, JSONValue.object(["code": .string($0.value.code.rawValue), "error": .string($0.value.message)]))
                }))
            }
            if let cursor = ack.cursor { data["cursor"] = .int(Int64(clamping: cursor)) }
            if !ack.held.isEmpty {
                data["held"] = .object(Dictionary(uniqueKeysWithValues: ack.held.map { origin, ranges in
                    (origin.rawValue, JSONValue.array(ranges.map { .array([.int(Int64(clamping: $0.lowerBound)), .int(Int64(clamping: $0.upperBound))]) }))
                }))
            }
            return ["type": "ack", "data": .object(data)]
        case .peerHello(let hello): return object(for: hello)
        case .relay(let batch): return object(for: batch)
        }
    }

    /// A change message as a JSON object (before encoding).
    package static func object(for message: ChangeMessage) -> JSONObject {
        var object: JSONObject = ["type": .string(message.kind.rawValue), "collection": .string(message.collection),
                                  "recordId": .string(message.recordID)]
        if let data = message.data { object["data"] = .object(data) }
        if let timestamp = message.timestamp { object["timestamp"] = .string(timestamp) }
        if !message.metadata.isEmpty { object["metadata"] = .object(message.metadata) }
        return object
    }

    // MARK: Decoding

    /// Decodes one frame from UTF-8 JSON bytes.
    package func decode(_ bytes: some Collection<UInt8>) throws(FrameError) -> Frame {
        guard bytes.count <= maxFrameBytes else {
            throw FrameError(.tooLarge, "frame of \(bytes.count) bytes exceeds the limit of \(maxFrameBytes)")
        }
        let parsed: JSONMembers?
        do {
            parsed = try JSONParser(limits: .init(maxBytes: maxFrameBytes, maxDepth: maxDepth)).parseMembers(bytes)
        } catch {
            throw FrameError(error.code == .tooLarge ? .tooLarge : .invalidMessage, error.description)
        }
        guard let members = parsed else { throw FrameError(.invalidMessage, "a frame must be a JSON object") }
        // A change, the frame that comes most, is read from the members as they came; the others
        // from a dictionary of them.
        if let type = members["type"]?.stringValue, Change.Kind(rawValue: type) != nil {
            return .change(try Self.changeMessage(from: members))
        }
        return try decode(object: members.object)
    }

    /// Decodes one frame from a JSON string.
    package func decode(_ text: String) throws(FrameError) -> Frame {
        try decode(Array(text.utf8))
    }

    /// Decodes one frame from an already parsed object.
    package func decode(object: JSONObject) throws(FrameError) -> Frame {
        guard let type = object["type"]?.stringValue else { throw FrameError(.invalidMessage, "missing string field \"type\"") }
        switch type {
        case "subscribe": return .subscribe(collection: try Self.collection(in: object))
        case "unsubscribe": return .unsubscribe(collection: try Self.collection(in: object))
        case "subscribed": return .subscribed(collection: try Self.collection(in: object))
        case "unsubscribed": return .unsubscribed(collection: try Self.collection(in: object))
        case "insert", "update", "delete": return .change(try Self.changeMessage(from: object))
        case "ping": return .ping(time: try Self.time(in: object))
        case "pong": return .pong(time: try Self.time(in: object))
        case "sync": return try Self.sync(from: object)
        case "error":
            let code = object["code"]?.stringValue ?? FrameError.Code.serverError.rawValue
            let message = object["error"]?.stringValue ?? object["message"]?.stringValue ?? ""
            return .error(FrameError(FrameError.Code(rawValue: String(code.prefix(64))), String(message.prefix(1024))))
        case "auth":
            guard let token = object["token"]?.stringValue else { throw FrameError(.invalidMessage, "auth needs a string \"token\"") }
            return .auth(token: token)
        case "authenticated": return .authenticated
        case "hello": return .hello(try Self.hello(from: object))
        case "changes": return .changes(try changes(from: object))
        case "ack": return .ack(try ack(from: object))
        case "peerHello": return .peerHello(try Self.peerHello(from: object))
        case "relay": return .relay(try relay(from: object))
        default:
            throw FrameError(.invalidMessage, "unknown frame type \"\(type.prefix(64))\"")
        }
    }

    static func collection(in object: some JSONMemberLookup) throws(FrameError) -> String {
        guard let collection = object["collection"]?.stringValue else {
            throw FrameError(.invalidMessage, "missing string field \"collection\"")
        }
        if let problem = Identifiers.problem(withCollection: collection) { throw FrameError(.invalidMessage, problem) }
        return collection
    }

    static func time(in object: JSONObject) throws(FrameError) -> UInt64? {
        guard let metadata = object["metadata"] else { return nil }
        guard case .object(let fields) = metadata else { throw FrameError(.invalidMessage, "\"metadata\" must be an object") }
        guard let time = fields["time"] else { return nil }
        guard let millis = time.intValue, millis >= 0 else { throw FrameError(.invalidMessage, "\"metadata.time\" must be a non-negative integer") }
        return UInt64(millis)
    }

    /// Decodes an insert, update or delete object.
    package static func changeMessage(from object: some JSONMemberLookup) throws(FrameError) -> ChangeMessage {
        guard let type = object["type"]?.stringValue, let kind = Change.Kind(rawValue: type) else {
            throw FrameError(.invalidMessage, "change frame type must be insert, update or delete")
        }
        let collection = try collection(in: object)
        guard let recordID = object["recordId"]?.stringValue else { throw FrameError(.invalidMessage, "missing string field \"recordId\"") }
        if let problem = Identifiers.problem(withRecordID: recordID) { throw FrameError(.invalidMessage, problem) }
        var data: JSONObject?
        switch object["data"] {
        case .object(let fields)?: data = fields
        case nil, .null?: data = nil
        default: throw FrameError(.invalidMessage, "\"data\" must be an object")
        }
        if kind != .delete, data == nil { throw FrameError(.invalidMessage, "\(type) needs a \"data\" object") }
        var timestamp: String?
        switch object["timestamp"] {
        case .string(let text)?: timestamp = text
        case nil, .null?: timestamp = nil
        default: throw FrameError(.invalidMessage, "\"timestamp\" must be an ISO 8601 string")
        }
        var metadata: JSONObject = [:]
        switch object["metadata"] {
        case .object(let fields)?: metadata = fields
        case nil, .null?: break
        default: throw FrameError(.invalidMessage, "\"metadata\" must be an object")
        }
        let message = ChangeMessage(kind: kind, collection: collection, recordID: recordID, data: data, timestamp: timestamp, metadata: metadata)
        let hasID = metadata["changeId"] != nil, hasHLC = metadata["hlc"] != nil
        if hasID || hasHLC {
            guard message.changeID != nil else { throw FrameError(.invalidMessage, "\"metadata.changeId\" must be \"origin:seq\"") }
            guard message.hlc != nil else { throw FrameError(.invalidMessage, "\"metadata.hlc\" must be 16 hex digits") }
        }
        if let seq = metadata["serverSeq"], seq.intValue.map({ $0 <= 0 }) ?? true {
            throw FrameError(.invalidMessage, "\"metadata.serverSeq\" must be a positive integer")
        }
        return message
    }

    static func sync(from object: JSONObject) throws(FrameError) -> Frame {
        let collection = try collection(in: object)
        guard let records = object["data"]?["records"]?.arrayValue else {
            throw FrameError(.invalidMessage, "sync needs \"data.records\" as an array")
        }
        var result: [SyncRecord] = []
        for record in records {
            guard let id = record["id"]?.stringValue ?? record["recordId"]?.stringValue, Identifiers.problem(withRecordID: id) == nil,
                  let data = record["data"]?.objectValue else {
                throw FrameError(.invalidMessage, "each sync record needs a valid \"id\" and a \"data\" object")
            }
            result.append(SyncRecord(id: id, data: data, version: record["version"]?.intValue, updatedAt: record["updatedAt"]?.stringValue))
        }
        return .sync(collection: collection, records: result)
    }

    static func hello(from object: JSONObject) throws(FrameError) -> Hello {
        guard let data = object["data"]?.objectValue,
              let nodeText = data["nodeId"]?.stringValue, let nodeID = NodeID(nodeText) else {
            throw FrameError(.invalidMessage, "hello needs \"data.nodeId\"")
        }
        guard let vectorValue = data["vector"], let vector = VersionVector(json: vectorValue) else {
            throw FrameError(.invalidMessage, "hello needs \"data.vector\" mapping node ids to sequences")
        }
        let version = data["protocol"]?.intValue ?? 1
        var cursor: UInt64?
        if let value = data["cursor"] {
            guard let seq = value.intValue, seq >= 0 else { throw FrameError(.invalidMessage, "\"data.cursor\" must be a non-negative integer") }
            cursor = UInt64(seq)
        }
        var time: UInt64?
        if let value = data["time"] {
            guard let millis = value.intValue, millis >= 0 else { throw FrameError(.invalidMessage, "\"data.time\" must be a non-negative integer") }
            time = UInt64(millis)
        }
        var owner: NodeID?
        if let value = data["cursorFor"] {
            guard let text = value.stringValue, let id = NodeID(text) else { throw FrameError(.invalidMessage, "\"data.cursorFor\" must be a node id") }
            owner = id
        }
        var collections: [String] = []
        if let value = data["collections"] {
            guard let list = value.arrayValue, list.count <= 1_000 else {
                throw FrameError(.invalidMessage, "\"data.collections\" must be an array of collection names")
            }
            for item in list {
                guard let name = item.stringValue, Identifiers.problem(withCollection: name) == nil else {
                    throw FrameError(.invalidMessage, "\"data.collections\" holds an invalid collection name")
                }
                collections.append(name)
            }
        }
        let frameKey = try data["key"].map { value throws(FrameError) in try Self.binary(value, named: "data.key") }
        return Hello(nodeID: nodeID, protocolVersion: Int(clamping: version), vector: vector, cursor: cursor, cursorOwner: owner,
                     time: time, collections: collections, frameKey: frameKey)
    }

    /// A binary value in base64 (a frame key's offer or answer, a frame's code); `INVALID_MESSAGE`
    /// when it is not a string. Text that is not base64 gives no bytes: a malformed value is one
    /// that never holds, not an absent one.
    static func binary(_ value: JSONValue, named name: String) throws(FrameError) -> [UInt8] {
        guard let text = value.stringValue else { throw FrameError(.invalidMessage, "\"\(name)\" must be a string") }
        return Base64.decode(text) ?? []
    }

    func changes(from object: JSONObject) throws(FrameError) -> ChangeBatch {
        guard let list = object["data"]?["changes"]?.arrayValue else {
            throw FrameError(.invalidMessage, "changes needs \"data.changes\" as an array")
        }
        guard list.count <= maxBatchCount else {
            throw FrameError(.tooLarge, "batch of \(list.count) changes exceeds the limit of \(maxBatchCount)")
        }
        var messages: [ChangeMessage] = []
        messages.reserveCapacity(list.count)
        for item in list {
            guard case .object(let fields) = item else { throw FrameError(.invalidMessage, "each change must be an object") }
            messages.append(try Self.changeMessage(from: fields))
        }
        var cursor: UInt64?
        if let value = object["data"]?["cursor"] {
            guard let seq = value.intValue, seq >= 0 else { throw FrameError(.invalidMessage, "\"data.cursor\" must be a non-negative integer") }
            cursor = UInt64(seq)
        }
        let signature = try object["data"]?["sig"].map { value throws(FrameError) in try ChangeSignature(field: value, named: "data.sig") }
        let code = try object["data"]?["mac"].map { value throws(FrameError) in try Self.binary(value, named: "data.mac") }
        return ChangeBatch(changes: messages, cursor: cursor, signature: signature, code: code)
    }

    func ack(from object: JSONObject) throws(FrameError) -> Ack {
        guard let data = object["data"]?.objectValue, let committedObject = data["committed"]?.objectValue else {
            throw FrameError(.invalidMessage, "ack needs \"data.committed\"")
        }
        var committed: [ChangeID: UInt64] = [:]
        for (key, value) in committedObject {
            guard let id = ChangeID(key), let seq = value.intValue, seq >= 0 else {
                throw FrameError(.invalidMessage, "\"data.committed\" maps change ids to server sequences")
            }
            committed[id] = UInt64(seq)
        }
        var rejected: [ChangeID: FrameError] = [:]
        for (key, value) in data["rejected"]?.objectValue ?? [:] {
            guard let id = ChangeID(key) else { throw FrameError(.invalidMessage, "\"data.rejected\" keys must be change ids") }
            rejected[id] = FrameError(FrameError.Code(rawValue: value["code"]?.stringValue ?? "SERVER_ERROR"), value["error"]?.stringValue ?? "")
        }
        var cursor: UInt64?
        if let value = data["cursor"] {
            guard let seq = value.intValue, seq >= 0 else { throw FrameError(.invalidMessage, "\"data.cursor\" must be a non-negative integer") }
            cursor = UInt64(seq)
        }
        var held: [NodeID: [ClosedRange<UInt64>]] = [:]
        for (key, value) in data["held"]?.objectValue ?? [:] {
            guard let origin = NodeID(key), let ranges = value.arrayValue, ranges.count <= maxBatchCount else {
                throw FrameError(.invalidMessage, "\"data.held\" maps node ids to at most \(maxBatchCount) [from, to] ranges")
            }
            held[origin] = try ranges.map { range throws(FrameError) -> ClosedRange<UInt64> in
                guard let pair = range.arrayValue, pair.count == 2, let from = pair[0].intValue, let to = pair[1].intValue, 1 <= from, from <= to else {
                    throw FrameError(.invalidMessage, "\"data.held\" ranges are [from, to] with 1 <= from <= to")
                }
                return UInt64(from)...UInt64(to)
            }
        }
        return Ack(committed: committed, rejected: rejected, cursor: cursor, held: held)
    }
}
