import SyncCore
import Testing

@Suite struct FrameCodecTests {
    let codec = FrameCodec()

    @Test func decodesTheOriginalProtocolsFramesExactlyAsDocumented() throws {
        #expect(try codec.decode(#"{"type": "subscribe", "collection": "todos"}"#) == .subscribe(collection: "todos"))
        #expect(try codec.decode(#"{"type":"ping"}"#) == .ping(time: nil))
        #expect(try codec.decode(#"{"type":"pong"}"#) == .pong(time: nil))
        let insert = try codec.decode(#"""
            {"type": "insert", "collection": "todos", "recordId": "123", "data": {"text": "New todo", "done": false},
             "timestamp": "2026-02-24T10:30:00Z", "metadata": {"version": 1, "userId": "user123"}}
            """#)
        guard case .change(let message) = insert else { Issue.record("not a change"); return }
        #expect(message.kind == .insert && message.recordID == "123" && message.data == ["text": "New todo", "done": false])
        #expect(message.timestamp == "2026-02-24T10:30:00Z")
        #expect(message.change == nil, "a frame without our extensions carries no change id")
        let delete = try codec.decode(#"{"type": "delete", "collection": "todos", "recordId": "123", "timestamp": "2026-02-24T10:32:00Z"}"#)
        guard case .change(let deletion) = delete else { Issue.record("not a change"); return }
        #expect(deletion.kind == .delete && deletion.data == nil)
        let sync = try codec.decode(#"{"type":"sync","collection":"todos","data":{"records":[{"id":"1","data":{"a":1},"version":3,"updatedAt":"2026-01-01T00:00:00Z"}]}}"#)
        #expect(sync == .sync(collection: "todos", records: [SyncRecord(id: "1", data: ["a": 1], version: 3, updatedAt: "2026-01-01T00:00:00Z")]))
        #expect(try codec.decode(#"{"type":"error","error":"bad token","code":"AUTH_FAILED"}"#) == .error(FrameError(.authFailed, "bad token")))
    }

    @Test func changesCarryOurExtensionsInMetadataAndRoundTrip() throws {
        let change = Change(id: ChangeID(origin: NodeID("node-1")!, seq: 42), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000, counter: 2),
                            collection: "todos", recordID: "r1", kind: .update, fields: ["done": true])
        let text = codec.encodeString(.change(ChangeMessage(change, serverSeq: 7)))
        #expect(text == #"{"collection":"todos","data":{"done":true},"metadata":{"changeId":"node-1:42","hlc":"019b76daa8000002","serverSeq":7,"version":7},"recordId":"r1","timestamp":"2026-01-01T00:00:00.000Z","type":"update"}"#)
        guard case .change(let message) = try codec.decode(text) else { Issue.record("not a change"); return }
        #expect(message.change == change)
        #expect(message.serverSeq == 7)
    }

    @Test func aChangeFrameIsWrittenDirectlyAsItsCanonicalObject() {
        // The server writes change frames without building their object; the bytes must be the
        // canonical encoding of that object, whatever the message holds.
        let messages = [
            ChangeMessage(kind: .insert, collection: "todos", recordID: "r\"1", data: ["b": 1, "a": "x\ny", "é": ["z": nil, "y": [1, 2.5]]],
                          timestamp: "2026-01-01T00:00:00Z", metadata: ["version": 3, "userId": "u", "changeId": "n:1", "aa": true]),
            ChangeMessage(kind: .delete, collection: "c", recordID: "", data: nil, timestamp: nil, metadata: [:]),
            ChangeMessage(kind: .update, collection: "ü\u{1}", recordID: "r", data: [:], timestamp: "t", metadata: ["sig": "s", "hlc": "h"]),
            ChangeMessage(Change(id: ChangeID(origin: NodeID("node-1")!, seq: 9), hlc: HLCTimestamp(wallMillis: 7, counter: 1), collection: "todos",
                                 recordID: "r9", kind: .insert, fields: ["text": "a \"quoted\" \\ text", "n": 1]), serverSeq: 12),
        ]
        for message in messages {
            #expect(codec.encode(.change(message)) == JSONValue.object(FrameCodec.object(for: message)).canonicalBytes)
        }
        // The same messages in a batch, with and without a cursor, and an empty batch.
        for batch in [ChangeBatch(changes: messages), ChangeBatch(changes: messages, cursor: 41), ChangeBatch(changes: [], cursor: 0)] {
            #expect(codec.encode(.changes(batch)) == JSONValue.object(FrameCodec.object(for: .changes(batch))).canonicalBytes)
        }
        // A stored change, written straight from the change: signed or not, with a server
        // sequence or not, deleted or not, with its fields' canonical bytes given or not.
        let origin = NodeID("node-1")!
        let signature = ChangeSignature(wireText: String(repeating: "A", count: 128))
        for kind in [Change.Kind.insert, .update, .delete] {
            for signed in [false, true] {
                for serverSeq in [nil, 1, UInt64(Int64.max) + 5] as [UInt64?] {
                    let change = Change(id: ChangeID(origin: origin, seq: 3), hlc: HLCTimestamp(wallMillis: 1_767_225_600_123, counter: 4),
                                        collection: "to\"dos", recordID: "r\u{7}", kind: kind, fields: ["z": 1, "a": ["b": "c"]],
                                        signature: signed ? signature : nil)
                    let expected = JSONValue.object(FrameCodec.object(for: ChangeMessage(change, serverSeq: serverSeq))).canonicalBytes
                    #expect(FrameCodec.encode(change: change, serverSeq: serverSeq) == expected, "\(kind) signed \(signed) \(serverSeq as Any)")
                    // With the fields' canonical bytes the store made: written as they are, the same frame.
                    let fields = JSONValue.object(change.fields).canonicalBytes
                    #expect(FrameCodec.encode(change: change, serverSeq: serverSeq, canonicalFields: fields) == expected,
                            "\(kind) signed \(signed) \(serverSeq as Any), fields given")
                }
            }
        }
    }

    @Test func ourFramesRoundTrip() throws {
        let a = NodeID("a")!
        let change = Change(id: ChangeID(origin: a, seq: 1), hlc: HLCTimestamp(wallMillis: 5), collection: "c", recordID: "r", kind: .delete, fields: [:])
        let frames: [Frame] = [
            .hello(Hello(nodeID: a, vector: VersionVector([a: 3]), cursor: 9, cursorOwner: NodeID("srv")!, time: 123, collections: ["todos", "notes"])),
            .changes(ChangeBatch(changes: [ChangeMessage(change)], cursor: 4)),
            .ack(Ack(committed: [ChangeID(origin: a, seq: 1): 10], rejected: [ChangeID(origin: a, seq: 2): FrameError(.unauthorized, "no")], cursor: 10)),
            .ack(Ack(committed: [:], cursor: 12, held: [a: [1...500, 502...502], NodeID("b")!: [7...9]])),
            .peerHello(PeerHello(nodeID: a, team: "t", uplink: true, vector: VersionVector([a: 3]), acknowledged: VersionVector([a: 2]))),
            .ping(time: 77), .pong(time: 78), .auth(token: "t"), .authenticated, .subscribed(collection: "c"), .unsubscribe(collection: "c"),
        ]
        for frame in frames {
            #expect(try codec.decode(codec.encode(frame)) == frame)
        }
    }

    @Test(arguments: [
        "[]", "{}", #"{"type":1}"#, #"{"type":"nope"}"#, #"{"type":"subscribe"}"#, #"{"type":"subscribe","collection":""}"#,
        #"{"type":"subscribe","collection":"../etc"}"#, #"{"type":"insert","collection":"c","recordId":"r"}"#,
        #"{"type":"insert","collection":"c","recordId":"r","data":[1]}"#, #"{"type":"update","collection":"c","recordId":"","data":{}}"#,
        #"{"type":"insert","collection":"c","recordId":"r","data":{},"metadata":{"changeId":"x"}}"#,
        #"{"type":"insert","collection":"c","recordId":"r","data":{},"metadata":{"changeId":"a:1","hlc":"zz"}}"#,
        #"{"type":"insert","collection":"c","recordId":"r","data":{},"metadata":{"changeId":"a:0","hlc":"0000000000000001"}}"#,
        #"{"type":"hello","data":{"nodeId":"a","vector":{"a":"x"}}}"#, #"{"type":"ack","data":{"committed":{"bad":1}}}"#,
        #"{"type":"ack","data":{"committed":{},"held":{"a":[[5,4]]}}}"#, #"{"type":"ack","data":{"committed":{},"held":{"a":[[0,4]]}}}"#,
        #"{"type":"ack","data":{"committed":{},"held":{"a":[1,4]}}}"#, #"{"type":"ack","data":{"committed":{},"held":{"a":5}}}"#,
        #"{"type":"changes","data":{"changes":[1]}}"#, #"{"type":"insert","collection":"c","recordId":"r","data":{},"timestamp":5}"#,
    ])
    func rejectsMalformedFramesWithInvalidMessage(_ text: String) {
        #expect { try codec.decode(text) } throws: { error in
            (error as? FrameError)?.code == .invalidMessage
        }
    }

    /// A change frame is read from its top-level members as they came, every other frame from a
    /// dictionary of them: both ways decode a change the same, and refuse the same frames.
    @Test func aChangeFrameReadFromItsMembersIsTheOneReadFromItsObject() throws {
        let frames = [
            #"{"type":"insert","collection":"todos","recordId":"1","data":{"text":"a","n":1},"timestamp":"2026-01-01T00:00:00.000Z"}"#,
            #"{"metadata":{"changeId":"node-1:42","hlc":"019b76daa8000002","serverSeq":7},"recordId":"r1","type":"update","collection":"c","data":{}}"#,
            #"{"type":"delete","collection":"c","recordId":"r","data":null,"timestamp":null,"metadata":null}"#,
        ]
        for text in frames {
            let object = try JSONParser().parseObject(Array(text.utf8))
            #expect(try codec.decode(text) == .change(try FrameCodec.changeMessage(from: object)))
        }
        // A repeated key at the top level is refused as in any object, type and collection too.
        for repeated in [
            #"{"type":"insert","collection":"c","recordId":"r","data":{},"recordId":"s"}"#,
            #"{"type":"insert","type":"delete","collection":"c","recordId":"r"}"#,
            #"{"type":"subscribe","collection":"c","collection":"d"}"#,
        ] {
            #expect { try codec.decode(repeated) } throws: { ($0 as? FrameError)?.code == .invalidMessage }
        }
    }

    @Test func rejectsOversizedFramesAndBatches() {
        let small = FrameCodec(maxFrameBytes: 64, maxBatchCount: 1)
        #expect { try small.decode(String(repeating: " ", count: 65) + "{}") } throws: { ($0 as? FrameError)?.code == .tooLarge }
        let batch = #"{"type":"changes","data":{"changes":[{"type":"delete","collection":"c","recordId":"a"},{"type":"delete","collection":"c","recordId":"b"}]}}"#
        #expect { try FrameCodec(maxBatchCount: 1).decode(batch) } throws: { ($0 as? FrameError)?.code == .tooLarge }
    }

    /// A record id with a control character (or DEL) anywhere is refused; the same id without it is not.
    @Test func recordIDsWithAControlCharacterAreRefused() {
        for length in 1...24 {
            for position in 0..<length {
                for control in ["\u{00}", "\u{1F}", "\u{7F}"] {
                    var characters = Array(repeating: "é", count: length)
                    #expect(Identifiers.problem(withRecordID: characters.joined()) == nil)
                    characters[position] = control
                    #expect(Identifiers.problem(withRecordID: characters.joined()) == "record id contains a control character")
                }
            }
        }
    }
}
