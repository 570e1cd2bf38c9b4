import SyncCore

/// What happened to one remote change.
package enum ApplyOutcome: Hashable, Sendable {
    /// New here: recorded, and merged into its document (`visibleChange` when a reader would see a difference).
    case applied(visibleChange: Bool)
    /// Already held: nothing changed (beyond marking it acknowledged, when it came from the server).
    case duplicate
}

extension WriteContext {
    /// Records a change in the log. Returns `false` when a change with that id was already there.
    ///
    /// - Parameter encodedFields: the canonical encoding of the change's fields, when already made.
    @discardableResult
    package func insertChange(_ change: Change, acked: Bool, serverSeq: UInt64?, encodedFields: [UInt8]? = nil) throws -> Bool {
        let statement = try connection.statement(static: """
            INSERT INTO changes(origin, seq, hlc, collection, record_id, kind, fields, acked, server_seq, sig)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING
            """)
        try statement.bind(change.id.origin.rawValue, at: 1)
        try statement.bind(Int64(bitPattern: change.id.seq), at: 2)
        try statement.bind(Int64(bitPattern: change.hlc.rawValue), at: 3)
        try statement.bind(change.collection, at: 4)
        try statement.bind(change.recordID, at: 5)
        try statement.bind(Int64(ChangeKindCode.code(change.kind)), at: 6)
        try statement.bind(utf8: encodedFields ?? JSONValue.object(change.fields).canonicalBytes, at: 7)
        try statement.bind(acked ? 1 : 0, at: 8)
        try statement.bind(serverSeq.map { .int(Int64(bitPattern: $0)) } ?? .null, at: 9)
        try statement.bind(change.signature.map { .text($0.wireText) } ?? .null, at: 10)
        while try statement.step() {}
        return connection.changes == 1
    }

    /// Merges a change made elsewhere: records it once (dedupe by change id), merges it into its
    /// document, advances the version vector, and moves the clock past it (within the drift bound).
    ///
    /// - Parameter acked: the change is known to be committed on the server (it came from there).
    package mutating func applyRemote(_ change: Change, acked: Bool, serverSeq: UInt64?) throws -> ApplyOutcome {
        guard try insertChange(change, acked: acked, serverSeq: serverSeq) else {
            if acked { try markAcknowledged(change.id, serverSeq: serverSeq) }
            return .duplicate
        }
        if acked { try advanceAcknowledged(origin: change.id.origin) }
        if !state.clock.observe(change.hlc, physicalMillis: wallClock.nowMillis()) {
            state.clampedObservations += 1
        }
        var document = try loadState(collection: change.collection, id: change.recordID) ?? DocumentState()
        let (changed, visibleChange) = document.applyVisibly(change)
        if changed { try storeState(document, collection: change.collection, id: change.recordID) }
        record(change, serverSeq: serverSeq, isLocal: false, visibleChange: visibleChange)
        try advanceVector(origin: change.id.origin, seq: change.id.seq, hlc: change.hlc)
        return .applied(visibleChange: visibleChange)
    }

    /// Moves the origin's contiguous mark past `seq` and any changes already held above it.
    ///
    /// Changes of an origin mostly arrive in order, and then nothing is held above the mark: the log
    /// is searched for the changes that follow `seq` only for an origin known to have some
    /// (``WriterState/originsAhead``). The origin's row is written once per transaction, by
    /// ``writeOrigins()``.
    package mutating func advanceVector(origin: NodeID, seq: UInt64, hlc: HLCTimestamp) throws {
        let previous = state.vector.extend(origin, to: seq)
        if seq == previous + 1 {
            var contiguous = seq
            if state.originsAhead.contains(origin) {
                let statement = try connection.statement(static: "SELECT seq FROM changes WHERE origin = ?1 AND seq > ?2 ORDER BY seq")
                try statement.bind(origin.rawValue, at: 1)
                try statement.bind(Int64(bitPattern: contiguous), at: 2)
                var gap = false
                while try statement.step() {
                    let next = UInt64(bitPattern: statement.int64(0))
                    guard next == contiguous + 1 else {
                        gap = true
                        break
                    }
                    contiguous = next
                }
                if !gap { state.originsAhead.remove(origin) }
                state.vector[origin] = contiguous
            }
        } else if seq > previous + 1 {
            state.originsAhead.insert(origin)
        }
        Self.raise(&movedOrigins[origin, default: hlc], to: hlc)
    }

    private static func raise(_ mark: inout HLCTimestamp, to hlc: HLCTimestamp) {
        if hlc > mark { mark = hlc }
    }

    /// Writes the rows of the origins this transaction moved (``advanceVector(origin:seq:hlc:)``);
    /// the writer calls it once, just before the commit.
    package mutating func writeOrigins() throws {
        for (origin, maxHLC) in movedOrigins.sorted(by: { $0.key < $1.key }) {
            try connection.run(static: """
                INSERT INTO origins(origin, contiguous, max_hlc) VALUES (?1, ?2, ?3)
                ON CONFLICT(origin) DO UPDATE SET contiguous = excluded.contiguous, max_hlc = max(max_hlc, excluded.max_hlc)
                """, .text(origin.rawValue), .int(Int64(bitPattern: state.vector[origin])), .int(Int64(bitPattern: maxHLC.rawValue)))
        }
        movedOrigins = [:]
    }
}

/// The integer codes of change kinds in the `changes` table.
package enum ChangeKindCode {
    package static func code(_ kind: Change.Kind) -> Int {
        switch kind {
        case .insert: return 0
        case .update: return 1
        case .delete: return 2
        }
    }

    package static func kind(_ code: Int64) -> Change.Kind? {
        switch code {
        case 0: return .insert
        case 1: return .update
        case 2: return .delete
        default: return nil
        }
    }
}
