import SyncCore
import Testing

@Suite struct VersionVectorTests {
    let a = NodeID("a")!, b = NodeID("b")!, c = NodeID("c")!

    @Test func missingListsWhatTheOtherSideLacks() {
        let mine = VersionVector([a: 5, b: 2])
        let theirs = VersionVector([a: 3, c: 7])
        let missing = mine.missing(from: theirs)
        #expect(missing.count == 2)
        #expect(missing[0].origin == a && missing[0].seqs == 4...5)
        #expect(missing[1].origin == b && missing[1].seqs == 1...2)
        #expect(theirs.missing(from: mine).map(\.origin) == [c])
    }

    /// `extend` takes only the next sequence number, and never leaves an entry at 0: a vector
    /// extended where it could not be equals one built without that origin.
    @Test func extendTakesOnlyTheNextSequenceNumber() {
        var vector = VersionVector([a: 5])
        #expect(vector.extend(a, to: 6) == 5 && vector[a] == 6)
        #expect(vector.extend(a, to: 8) == 6 && vector[a] == 6)
        #expect(vector.extend(a, to: 3) == 6 && vector[a] == 6)
        #expect(vector.extend(b, to: 2) == 0 && vector == VersionVector([a: 6]) && vector.entries[b] == nil)
        #expect(vector.extend(c, to: 0) == 0 && vector.entries[c] == nil)
        #expect(vector.extend(b, to: 1) == 0 && vector == VersionVector([a: 6, b: 1]))
    }

    @Test func unionTakesTheMaximum() {
        var vector = VersionVector([a: 5])
        vector.formUnion(VersionVector([a: 3, b: 4]))
        #expect(vector == VersionVector([a: 5, b: 4]))
        #expect(vector.contains(VersionVector([a: 5])))
        #expect(!vector.contains(VersionVector([c: 1])))
    }

    @Test func jsonRoundTripsAndRejectsGarbage() {
        let vector = VersionVector([a: 5, b: 2])
        #expect(VersionVector(json: vector.jsonValue) == vector)
        #expect(VersionVector(json: ["not a node id!": 1]) == nil)
        #expect(VersionVector(json: ["a": -1]) == nil)
        #expect(VersionVector(json: [1, 2]) == nil)
    }
}
