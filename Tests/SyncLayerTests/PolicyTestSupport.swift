import SyncCore
import SyncStore

/// A change of `origin` numbered `seq`, as the policies see it.
func policyChange(_ origin: String, _ seq: UInt64, acknowledged: Bool = false) -> ChangeInTransit {
    ChangeInTransit(Change(id: ChangeID(origin: NodeID(origin)!, seq: seq), hlc: HLCTimestamp(wallMillis: 1_000 + seq), collection: "c",
                        recordID: "r\(seq)", kind: .insert, fields: ["v": .int(Int64(seq))]),
                 acknowledged: acknowledged)
}

/// A version vector from `origin: through` pairs.
func vector(_ entries: [String: UInt64]) -> VersionVector {
    VersionVector(Dictionary(uniqueKeysWithValues: entries.map { (NodeID($0.key)!, $0.value) }))
}

/// Monotonic nanoseconds from seconds, for the policies' injected time.
func seconds(_ value: Double) -> UInt64 { UInt64(value * 1_000_000_000) }
