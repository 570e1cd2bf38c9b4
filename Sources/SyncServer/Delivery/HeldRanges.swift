import SyncCore

/// Change ids gathered into per-origin ranges of consecutive sequence numbers, for the `held` part
/// of an ack: a batch of 500 changes of one origin becomes one `[from, to]` pair.
struct HeldRanges {
    private(set) var ranges: [NodeID: [ClosedRange<UInt64>]] = [:]

    mutating func insert(_ id: ChangeID) {
        var list = ranges[id.origin, default: []]
        if let last = list.last, last.contains(id.seq) { return }
        if let last = list.last, last.upperBound &+ 1 == id.seq {
            list[list.count - 1] = last.lowerBound...id.seq
        } else {
            list.append(id.seq...id.seq)
        }
        ranges[id.origin] = list
    }
}
