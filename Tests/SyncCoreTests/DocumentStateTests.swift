import SyncCore
import SyncTesting
import Testing

@Suite struct DocumentStateTests {
    let a = NodeID("node-a")!
    let b = NodeID("node-b")!

    func change(_ origin: NodeID, _ seq: UInt64, at millis: UInt64, _ kind: Change.Kind, _ fields: JSONObject = [:]) -> Change {
        Change(id: ChangeID(origin: origin, seq: seq), hlc: HLCTimestamp(wallMillis: millis), collection: "c", recordID: "r", kind: kind, fields: fields)
    }

    /// The merge state's stored form is written directly; it must stay the canonical encoding of the
    /// object it stands for (what stores written before hold), and read back to the same state.
    @Test func storedClocksAreTheCanonicalObjectAndReadBack() throws {
        func reference(_ state: DocumentState) -> String {
            var object: JSONObject = [:]
            if let lifecycle = state.lifecycle {
                object["l"] = .string(lifecycle.stamp.description)
                if lifecycle.isDeleted { object["d"] = .bool(true) }
            }
            var stamps: JSONObject = [:]
            for (name, field) in state.fields where field.stamp != state.lifecycle?.stamp {
                stamps[name] = .string(field.stamp.description)
            }
            if !stamps.isEmpty { object["f"] = .object(stamps) }
            return JSONValue.canonicalString(object: object)
        }
        let names = ["a", "b", "Z", "é", "\u{1F600}", "q\"uote", "back\\slash", "nl\n", "aa", ""]
        let origins = [a, b, NodeID("node-c")!]
        var generator = SplitMix64(seed: 17)
        var checked = 0
        for _ in 0..<200 {
            var state = DocumentState()
            #expect(state.clocksJSON == reference(state))
            for seq in 1...UInt64(generator.next() % 8 + 1) {
                let kinds: [Change.Kind] = [.insert, .update, .update, .delete]
                let kind = kinds[Int(generator.next() % 4)]
                var fields: JSONObject = [:]
                if kind != .delete {
                    for _ in 0..<Int(generator.next() % 4) { fields[names[Int(generator.next() % UInt64(names.count))]] = .int(Int64(seq)) }
                }
                state.apply(change(origins[Int(generator.next() % 3)], seq, at: generator.next() % 50, kind, fields))
                #expect(state.clocksJSON == reference(state), "\(state)")
                #expect(try DocumentState(body: state.body, clocksJSON: state.clocksJSON) == state)
                checked += 1
            }
        }
        #expect(checked > 500)
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
