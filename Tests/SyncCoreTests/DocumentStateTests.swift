import SyncCore
import Testing

@Suite struct DocumentStateTests {
    let a = NodeID("node-a")!
    let b = NodeID("node-b")!

    func change(_ origin: NodeID, _ seq: UInt64, at millis: UInt64, _ kind: Change.Kind, _ fields: JSONObject = [:]) -> Change {
        Change(id: ChangeID(origin: origin, seq: seq), hlc: HLCTimestamp(wallMillis: millis), collection: "c", recordID: "r", kind: kind, fields: fields)
    }

    @Test func updateChangesOnlyItsFields() {
        var state = DocumentState()
        state.apply(change(a, 1, at: 10, .insert, ["x": 1, "y": 2]))
        state.apply(change(b, 1, at: 20, .update, ["y": 3]))
        #expect(state.body == ["x": 1, "y": 3])
    }

    @Test func insertReplacesTheWholeDocument() {
        var state = DocumentState()
        state.apply(change(a, 1, at: 10, .insert, ["x": 1, "y": 2]))
        state.apply(change(a, 2, at: 20, .insert, ["z": 9]))
        #expect(state.body == ["z": 9])
    }

    @Test func staleUpdateDoesNotUndoADelete() {
        var state = DocumentState()
        state.apply(change(a, 1, at: 10, .insert, ["x": 1]))
        state.apply(change(a, 2, at: 30, .delete))
        state.apply(change(b, 1, at: 20, .update, ["x": 2]))
        #expect(!state.exists)
    }

    @Test func laterUpdateDoesNotResurrectADelete() {
        var state = DocumentState()
        state.apply(change(a, 1, at: 10, .insert, ["x": 1]))
        state.apply(change(a, 2, at: 20, .delete))
        state.apply(change(b, 1, at: 30, .update, ["x": 2]))
        #expect(!state.exists)
    }

    @Test func saveAfterDeleteBringsTheDocumentBack() {
        var state = DocumentState()
        state.apply(change(a, 1, at: 10, .insert, ["x": 1]))
        state.apply(change(a, 2, at: 20, .delete))
        state.apply(change(a, 3, at: 30, .insert, ["x": 5]))
        #expect(state.exists)
        #expect(state.body == ["x": 5])
    }

    @Test func equalClocksAreBrokenByNodeID() {
        var first = DocumentState(), second = DocumentState()
        let fromA = change(a, 1, at: 10, .update, ["x": "a"])
        let fromB = change(b, 1, at: 10, .update, ["x": "b"])
        first.apply(fromA); first.apply(fromB)
        second.apply(fromB); second.apply(fromA)
        #expect(first == second)
        #expect(first.body["x"] == "b")
    }
}
