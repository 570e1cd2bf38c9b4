import SyncCore
import Testing

@Suite struct RESTRequestTests {
    let origin = NodeID("node-1")!

    @Test func pushBodiesRoundTripAndRefuseWhatIsMalformed() throws {
        let changes = [
            Change(id: ChangeID(origin: origin, seq: 1), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000), collection: "todos",
                   recordID: "r1", kind: .insert, fields: ["text": "milk"]),
            Change(id: ChangeID(origin: origin, seq: 2), hlc: HLCTimestamp(wallMillis: 1_767_225_600_001), collection: "todos",
                   recordID: "r1", kind: .delete, fields: [:]),
        ]
        let push = PushRequest(changes: changes)
        #expect(try PushRequest(body: push.body, maxBatchCount: 2) == push)
        #expect(throws: FrameError(.tooLarge, "more than 1 changes")) { try PushRequest(body: push.body, maxBatchCount: 1) }
        #expect(throws: FrameError(.invalidMessage, "push needs \"changes\": [...]")) { try PushRequest(body: [:], maxBatchCount: 10) }
        let unstamped: JSONObject = ["changes": [["type": "insert", "collection": "todos", "recordId": "r", "data": [:]]]]
        #expect(throws: FrameError(.invalidMessage, "pushed changes need metadata.changeId and metadata.hlc")) {
            try PushRequest(body: unstamped, maxBatchCount: 10)
        }
    }

    @Test func pullBodiesAreLenientExceptForCollections() throws {
        let pull = try PullRequest(body: ["cursorFor": "not a node id", "cursor": -3, "vector": ["node-1": 4], "limit": 1_000_000,
                                          "collections": ["todos", "notes", "todos"]])
        #expect(pull == PullRequest(cursorOwner: nil, cursor: 0, vector: VersionVector([origin: 4]), limit: 5_000, collections: ["todos", "notes"]))
        #expect(try PullRequest(body: pull.body) == pull)
        #expect(throws: FrameError(.invalidMessage, "pull needs \"collections\"")) { try PullRequest(body: ["collections": []]) }
        #expect(throws: FrameError(.invalidMessage, "\"collections\" lists collection names")) { try PullRequest(body: ["collections": ["a", 5]]) }
    }

    @Test func theOriginalProtocolsBodiesAndQuery() throws {
        #expect(try LegacyInsertRequest(body: ["recordId": "r1", "data": ["a": 1]]).data == ["a": 1])
        #expect(throws: FrameError(.invalidMessage, "the body needs \"recordId\" and a \"data\" object")) {
            try LegacyInsertRequest(body: ["recordId": "r1"])
        }
        #expect(try LegacyUpdateRequest(body: ["delta": ["done": true]]).delta == ["done": true])
        let query = LegacyPullQuery(since: "2026-01-01T00:00:00Z", limit: "5000", offset: "-2")
        #expect(query.since == 1_767_225_600_000 && query.limit == 1000 && query.offset == 0)
        #expect(LegacyPullQuery(since: "yesterday", limit: "x", offset: nil) == LegacyPullQuery(since: nil, limit: nil, offset: nil))
    }
}
