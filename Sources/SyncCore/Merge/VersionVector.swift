/// For each origin, the highest sequence number held without a gap: what a node (or the server) has.
///
/// Comparing two vectors tells each side exactly which changes the other lacks, which is how every
/// connection catches up on whatever frames were missed.
package struct VersionVector: Hashable, Sendable {
    /// Highest contiguous sequence per origin; origins absent hold nothing.
    package private(set) var entries: [NodeID: UInt64]

    package init(_ entries: [NodeID: UInt64] = [:]) {
        self.entries = entries.filter { $0.value > 0 }
    }

    /// The highest contiguous sequence held from `origin` (0 when none).
    package subscript(origin: NodeID) -> UInt64 {
        get { entries[origin] ?? 0 }
        set { entries[origin] = newValue > 0 ? newValue : nil }
    }

    /// Takes `seq` as `origin`'s entry when it is the next one (the entry plus one), looking the
    /// origin up once; returns the entry as it was.
    package mutating func extend(_ origin: NodeID, to seq: UInt64) -> UInt64 {
        func extend(_ entry: inout UInt64) -> UInt64 {
            defer { if seq == entry + 1 { entry = seq } }
            return entry
        }
        let previous = extend(&entries[origin, default: 0])
        // No entry is kept at 0 (an origin held from nothing and not extended).
        if previous == 0, seq != 1 { entries[origin] = nil }
        return previous
    }

    /// Raises every entry to at least `other`'s.
    package mutating func formUnion(_ other: VersionVector) {
        for (origin, seq) in other.entries where seq > self[origin] {
            entries[origin] = seq
        }
    }

    /// Whether this vector holds everything `other` holds.
    package func contains(_ other: VersionVector) -> Bool {
        other.entries.allSatisfy { self[$0.key] >= $0.value }
    }

    /// The sequence ranges this vector holds and `other` does not, per origin, in origin order.
    package func missing(from other: VersionVector) -> [(origin: NodeID, seqs: ClosedRange<UInt64>)] {
        entries.keys.sorted().compactMap { origin in
            let have = entries[origin]!, theirs = other[origin]
            return have > theirs ? (origin, (theirs + 1)...have) : nil
        }
    }

    /// The JSON form: `{"origin": seq, …}`.
    package var jsonValue: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: entries.map { ($0.key.rawValue, JSONValue.int(Int64(clamping: $0.value))) }))
    }

    /// Reads the JSON form; `nil` when it is not an object of valid node ids to non-negative integers.
    package init?(json: JSONValue) {
        guard case .object(let object) = json else { return nil }
        var entries: [NodeID: UInt64] = [:]
        for (key, value) in object {
            guard let origin = NodeID(key), let seq = value.intValue, seq >= 0 else { return nil }
            entries[origin] = UInt64(seq)
        }
        self.init(entries)
    }
}
