import SyncCore
import SyncTesting
import Testing

/// The merge is deterministic, idempotent and order-free: the same set of changes, applied in any
/// order with any duplicates, gives byte-identical documents, equal to the declarative definition.
@Suite struct MergePropertyTests {
    /// The merge as a definition rather than a procedure: what the state must be for a set of changes.
    static func reference(_ changes: [Change]) -> (exists: Bool, body: JSONObject) {
        let unique = Dictionary(changes.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }).values
        let life = unique.filter { $0.kind != .update }.max { $0.stamp < $1.stamp }
        var fields: [String: (Stamp, JSONValue)] = [:]
        for change in unique where change.kind != .delete && (life == nil || change.stamp >= life!.stamp) {
            for (name, value) in change.fields where fields[name].map({ change.stamp > $0.0 }) ?? true {
                fields[name] = (change.stamp, value)
            }
        }
        let exists = life.map { $0.kind == .insert } ?? !fields.isEmpty
        return (exists, fields.mapValues(\.1))
    }

    static func apply(_ changes: [Change]) -> [String: DocumentState] {
        var documents: [String: DocumentState] = [:]
        for change in changes {
            documents[change.recordID, default: DocumentState()].apply(change)
        }
        return documents
    }

    /// The bytes a node would store for each document: existence, body and clocks.
    static func fingerprint(_ documents: [String: DocumentState]) -> [String: String] {
        documents.mapValues { state in
            "\(state.exists)|\(JSONValue.canonicalString(object: state.body))|\(state.clocksJSON)"
        }
    }

    @Test func randomChangeSetsConvergeInEveryOrder() {
        let seed = testSeed(fallback: 0x5EED_2026)
        var rng = SplitMix64(seed: seed)
        var checkedOrders = 0
        for trial in 0..<1_000 {
            let shape = RandomChanges.Shape(origins: Int.random(in: 2...4, using: &rng), records: Int.random(in: 1...3, using: &rng),
                                            changes: Int.random(in: 5...40, using: &rng))
            let changes = RandomChanges.generate(shape, rng: &rng)
            let expected = Self.fingerprint(Self.apply(changes))
            for record in Set(changes.map(\.recordID)) {
                let reference = Self.reference(changes.filter { $0.recordID == record })
                let state = Self.apply(changes)[record]!
                #expect(state.exists == reference.exists && (!state.exists || state.body == reference.body),
                        "seed \(seed) trial \(trial) record \(record): merge differs from the definition")
            }
            for _ in 0..<6 {
                let order = RandomChanges.shuffledWithDuplicates(changes, rng: &rng)
                let got = Self.fingerprint(Self.apply(order))
                #expect(got == expected, "seed \(seed) trial \(trial): order changed the result")
                checkedOrders += 1
            }
        }
        #expect(checkedOrders == 6_000)
    }

    /// What `applyVisibly` says of each change is what comparing the document before and after says,
    /// in every order, duplicates included: a rewrite to the same value, or an insert that clears
    /// fields and sets them again as they were, is not visible.
    @Test func visibilityIsWhatTheDocumentBeforeAndAfterShows() {
        let seed = testSeed(fallback: 0x5EED_2027)
        var rng = SplitMix64(seed: seed)
        var (visible, hidden, unchangedState) = (0, 0, 0)
        for trial in 0..<500 {
            let shape = RandomChanges.Shape(origins: Int.random(in: 2...4, using: &rng), records: Int.random(in: 1...3, using: &rng),
                                            changes: Int.random(in: 5...40, using: &rng))
            let changes = RandomChanges.shuffledWithDuplicates(RandomChanges.generate(shape, rng: &rng), rng: &rng)
            var documents: [String: DocumentState] = [:]
            for change in changes {
                var reference = documents[change.recordID, default: DocumentState()]
                let before = (reference.exists, reference.body)
                let referenceChanged = reference.apply(change)
                let expected = referenceChanged && (before.0 != reference.exists || (reference.exists && before.1 != reference.body))
                var document = documents[change.recordID, default: DocumentState()]
                let got = document.applyVisibly(change)
                #expect(document == reference, "seed \(seed) trial \(trial): the two applies differ")
                #expect(got.changed == referenceChanged && got.visible == expected,
                        "seed \(seed) trial \(trial) change \(change.id): \(got), expected (\(referenceChanged), \(expected))")
                if expected { visible += 1 } else if referenceChanged { hidden += 1 } else { unchangedState += 1 }
                documents[change.recordID] = document
            }
        }
        // Every answer was met: visible, a changed state with the same body, and no change at all.
        #expect(visible > 0 && hidden > 0 && unchangedState > 0, "visible \(visible), hidden \(hidden), unchanged \(unchangedState)")
    }

    @Test func applyingTwiceChangesNothing() {
        var rng = SplitMix64(seed: testSeed(fallback: 7))
        for _ in 0..<200 {
            let changes = RandomChanges.generate(.init(), rng: &rng)
            var documents = Self.apply(changes)
            for change in changes {
                let changed = documents[change.recordID]!.apply(change)
                #expect(changed == false)
            }
            #expect(Self.fingerprint(documents) == Self.fingerprint(Self.apply(changes)))
        }
    }

    @Test func storedClocksRoundTrip() throws {
        var rng = SplitMix64(seed: testSeed(fallback: 11))
        for _ in 0..<200 {
            for (_, state) in Self.apply(RandomChanges.generate(.init(), rng: &rng)) {
                let restored = try DocumentState(body: state.body, clocksJSON: state.clocksJSON)
                #expect(restored == state)
            }
        }
    }
}
