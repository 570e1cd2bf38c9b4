import SyncCore

/// Generates realistic random change sets: several origins with skewed clocks writing inserts,
/// field updates, deletes and re-inserts to a few shared records, sometimes syncing with each other.
package struct RandomChanges {
    /// How big a scenario is.
    package struct Shape: Sendable {
        package var origins: Int
        package var records: Int
        package var changes: Int
        package var collection: String

        package init(origins: Int = 3, records: Int = 3, changes: Int = 30, collection: String = "items") {
            self.origins = origins
            self.records = records
            self.changes = changes
            self.collection = collection
        }
    }

    static let fieldNames = ["a", "b", "c", "d", "nested"]

    /// A change set of `shape`, drawn from `rng`.
    package static func generate(_ shape: Shape, rng: inout SplitMix64) -> [Change] {
        let skews: [Int64] = [0, 3_600_000, -3_600_000, 250, -90_000]
        struct Origin {
            let id: NodeID
            let skew: Int64
            var clock: HybridLogicalClock
            var seq: UInt64 = 0
        }
        var origins = (0..<shape.origins).map { index in
            Origin(id: NodeID("origin-\(index)")!, skew: skews[index % skews.count],
                   clock: HybridLogicalClock(maxDriftMillis: 60_000))
        }
        var realTime: UInt64 = 1_767_225_600_000
        var changes: [Change] = []
        for _ in 0..<shape.changes {
            realTime += UInt64.random(in: 0...1500, using: &rng)
            let index = Int.random(in: 0..<origins.count, using: &rng)
            let physical = UInt64(Int64(realTime) + origins[index].skew)
            // Sometimes the origin has synced and seen a random earlier change.
            if !changes.isEmpty, Bool.random(using: &rng) {
                let seen = changes[Int.random(in: 0..<changes.count, using: &rng)]
                origins[index].clock.observe(seen.hlc, physicalMillis: physical)
            }
            let hlc = origins[index].clock.now(physicalMillis: physical)
            origins[index].seq += 1
            let record = "r\(Int.random(in: 0..<shape.records, using: &rng))"
            let roll = Int.random(in: 0..<10, using: &rng)
            let kind: Change.Kind = roll < 4 ? .insert : roll < 8 ? .update : .delete
            var fields: JSONObject = [:]
            if kind != .delete {
                for name in fieldNames where Int.random(in: 0..<3, using: &rng) == 0 || (kind == .insert && name == "a") {
                    fields[name] = randomValue(&rng)
                }
                if fields.isEmpty { fields["b"] = randomValue(&rng) }
            }
            changes.append(Change(id: ChangeID(origin: origins[index].id, seq: origins[index].seq), hlc: hlc,
                                  collection: shape.collection, recordID: record, kind: kind, fields: fields))
        }
        return changes
    }

    static func randomValue(_ rng: inout SplitMix64) -> JSONValue {
        switch Int.random(in: 0..<8, using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .int(Int64.random(in: -5...5, using: &rng))
        case 3: return .double(Double(Int.random(in: 0...100, using: &rng)) / 8)
        case 4: return .string(["x", "y", "zé", "w\"q"][Int.random(in: 0..<4, using: &rng)])
        case 5: return .array([.int(Int64.random(in: 0...3, using: &rng)), .string("t")])
        case 6: return .object(["k": .int(Int64.random(in: 0...3, using: &rng)), "j": ["deep": true]])
        default: return .string("v\(Int.random(in: 0...9, using: &rng))")
        }
    }

    /// `changes` in a random order with random duplicates.
    package static func shuffledWithDuplicates(_ changes: [Change], rng: inout SplitMix64) -> [Change] {
        var result = changes
        for _ in 0..<Int.random(in: 0...max(1, changes.count / 3), using: &rng) {
            result.append(changes[Int.random(in: 0..<changes.count, using: &rng)])
        }
        result.shuffle(using: &rng)
        return result
    }
}
