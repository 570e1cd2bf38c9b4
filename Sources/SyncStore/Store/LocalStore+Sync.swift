import SyncCore

/// A change on its way between stores (from the server, from a peer, or this node's own passed to
/// its peers), with what is known of the server holding it.
package struct ChangeInTransit: Hashable, Sendable {
    /// The change.
    package let change: Change
    /// Whether the server is known to have committed it (it came from the server).
    package let acknowledged: Bool
    /// The server's sequence for it, when known.
    package let serverSeq: UInt64?

    package init(_ change: Change, acknowledged: Bool, serverSeq: UInt64? = nil) {
        self.change = change
        self.acknowledged = acknowledged
        self.serverSeq = serverSeq
    }
}

extension LocalStore {
    /// Merges changes made elsewhere, in one transaction, and optionally moves a cursor in that same
    /// transaction, so a cursor never runs ahead of the data it covers. Reports remote changes that
    /// met this node's pending changes on the same fields.
    @discardableResult
    package func applyRemote(_ changes: [ChangeInTransit], cursor: (name: String, value: UInt64)? = nil) async throws -> RemoteApplyResult {
        for remote in changes {
            try validate(collection: remote.change.collection, id: remote.change.recordID)
            if case .failure(let problem) = DocumentRules.encode(remote.change.fields, maxDepth: limits.maxDocumentDepth) {
                throw StoreError(.invalidDocument, problem.message)
            }
        }
        let nodeID = self.nodeID
        return try await writer.write { context in
            HopTrace.mark(.writing)
            var outcomes: [ApplyOutcome] = []
            var conflicts: [Conflict] = []
            outcomes.reserveCapacity(changes.count)
            let pending = changes.contains { $0.change.id.origin != nodeID } ? try context.pendingRecords() : []
            for remote in changes {
                let key = PendingKey(collection: remote.change.collection, recordID: remote.change.recordID)
                guard remote.change.id.origin != nodeID, pending.contains(key) else {
                    outcomes.append(try context.applyRemote(remote.change, acked: remote.acknowledged, serverSeq: remote.serverSeq))
                    continue
                }
                let before = try context.loadState(collection: key.collection, id: key.recordID)
                let outcome = try context.applyRemote(remote.change, acked: remote.acknowledged, serverSeq: remote.serverSeq)
                outcomes.append(outcome)
                guard case .applied = outcome else { continue }
                let after = try context.loadState(collection: key.collection, id: key.recordID)
                let conflict = Conflict(remote: remote.change, pending: try context.pendingChanges(key),
                                        before: before.flatMap { $0.exists ? $0.body : nil }, after: after.flatMap { $0.exists ? $0.body : nil })
                if conflict.overlaps { conflicts.append(conflict) }
            }
            if let cursor { try context.moveCursor(cursor.name, to: cursor.value) }
            return RemoteApplyResult(outcomes: outcomes, conflicts: conflicts)
        }
    }

    /// Changes not yet acknowledged by the server, oldest first per origin.
    package func outbox(limit: Int = 1000) async throws -> [Change] {
        let nodeID = self.nodeID
        return try await readers.read { connection in
            var result: [Change] = []
            let statement = try connection.statement("""
                SELECT origin, seq, hlc, collection, record_id, kind, fields, sig FROM changes
                WHERE origin = ?1 AND seq > ?2 AND acked = 0 ORDER BY seq LIMIT ?3
                """)
            for (origin, through) in try Self.acknowledgedMarks(connection, nodeID: nodeID) where result.count < limit {
                statement.reset()
                try statement.bind(origin, at: 1)
                try statement.bind(Int64(bitPattern: through), at: 2)
                try statement.bind(Int64(limit - result.count), at: 3)
                result.append(contentsOf: try Self.readChanges(statement))
            }
            return result
        }
    }

    /// Per origin, the sequence through which every change is known to be committed by the server.
    package func acknowledgedVector() async throws -> VersionVector {
        let nodeID = self.nodeID
        return try await readers.read { connection in
            var vector = VersionVector()
            for (origin, through) in try Self.acknowledgedMarks(connection, nodeID: nodeID) where through > 0 {
                if let id = NodeID(origin) { vector[id] = through }
            }
            return vector
        }
    }

    /// How many changes wait for the server's acknowledgement.
    package func outboxCount() async throws -> Int {
        let nodeID = self.nodeID
        return try await readers.read { connection in
            var total = 0
            for (origin, through) in try Self.acknowledgedMarks(connection, nodeID: nodeID) {
                total += Int(try connection.scalarInt("SELECT count(*) FROM changes WHERE origin = ?1 AND seq > ?2 AND acked = 0",
                                                      .text(origin), .int(Int64(bitPattern: through))) ?? 0)
            }
            return total
        }
    }

    /// The outbox's size and the clock of its oldest change, in one read: per origin, one range
    /// scan of the primary key above its acknowledged mark (the scan ``outboxCount()`` does).
    package func outboxSummary() async throws -> OutboxSummary {
        let nodeID = self.nodeID
        return try await readers.read { connection in
            var summary = OutboxSummary(count: 0, oldest: nil)
            let statement = try connection.statement("SELECT count(*), min(hlc) FROM changes WHERE origin = ?1 AND seq > ?2 AND acked = 0")
            for (origin, through) in try Self.acknowledgedMarks(connection, nodeID: nodeID) {
                statement.reset()
                try statement.bind(origin, at: 1)
                try statement.bind(Int64(bitPattern: through), at: 2)
                guard try statement.step() else { continue }
                summary.count += Int(statement.int64(0))
                guard !statement.isNull(1) else { continue }
                let hlc = HLCTimestamp(rawValue: UInt64(bitPattern: statement.int64(1)))
                summary.oldest = min(summary.oldest ?? hlc, hlc)
            }
            return summary
        }
    }

    /// Every origin the log holds changes of, with its acknowledged mark, in origin order.
    static func acknowledgedMarks(_ connection: SQLiteConnection, nodeID: NodeID) throws -> [(String, UInt64)] {
        var marks: [String: UInt64] = [nodeID.rawValue: 0]
        let origins = try connection.statement("SELECT origin FROM origins")
        while try origins.step() { marks[origins.text(0)] = 0 }
        let acks = try connection.statement("SELECT origin, through FROM acks")
        while try acks.step() { marks[acks.text(0)] = UInt64(bitPattern: acks.int64(1)) }
        return marks.sorted { $0.key < $1.key }
    }

    /// Marks changes as committed by the server (with the sequence it gave each, 0 when it refused
    /// them), and the changes in `held` (per origin, ranges of sequence numbers the server committed
    /// without sending them here); they leave the outbox. Moves `cursor` in the same transaction.
    package func acknowledge(_ committed: [ChangeID: UInt64], held: [NodeID: [ClosedRange<UInt64>]] = [:],
                            cursor: (name: String, value: UInt64)? = nil) async throws {
        guard !committed.isEmpty || !held.isEmpty || cursor != nil else { return }
        try await writer.write { context in
            for (id, serverSeq) in committed.sorted(by: { $0.key < $1.key }) {
                try context.markAcknowledged(id, serverSeq: serverSeq)
            }
            for (origin, ranges) in held.sorted(by: { $0.key < $1.key }) {
                try context.markAcknowledged(origin: origin, ranges: ranges)
            }
            if let cursor { try context.moveCursor(cursor.name, to: cursor.value) }
        }
    }

    /// Per origin, the highest sequence held without a gap, as of the last commit, without reading
    /// the database: a change numbered at or below it is one the store holds already.
    package var heldVector: VersionVector { writer.heldVector }

    /// The version vector: per origin, the highest sequence held without a gap.
    package func vector() async throws -> VersionVector {
        let nodeID = self.nodeID
        return try await readers.read { connection in
            var vector = try DocumentTable.vector(connection)
            let own = UInt64(bitPattern: try connection.scalarInt("SELECT max(seq) FROM changes WHERE origin = ?1", .text(nodeID.rawValue)) ?? 0)
            vector[nodeID] = max(vector[nodeID], own)
            return vector
        }
    }

    /// The changes this store holds that `other` lacks, by version vector, oldest first per origin,
    /// at most `limit`.
    package func changes(missingFrom other: VersionVector, limit: Int = 10_000) async throws -> [Change] {
        try await changesWithAcknowledgement(missingFrom: other, limit: limit).map(\.change)
    }

    /// The changes this store holds that `other` lacks, each with whether the server is known to
    /// hold it (for a LAN peer, which then need not upload it).
    package func changesWithAcknowledgement(missingFrom other: VersionVector, limit: Int = 10_000) async throws -> [ChangeInTransit] {
        let mine = try await vector()
        let ranges = mine.missing(from: other)
        guard !ranges.isEmpty else { return [] }
        return try await readers.read { connection in
            var result: [ChangeInTransit] = []
            let statement = try connection.statement("""
                SELECT origin, seq, hlc, collection, record_id, kind, fields, sig, acked FROM changes
                WHERE origin = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq LIMIT ?4
                """)
            for range in ranges where result.count < limit {
                statement.reset()
                try statement.bind(range.origin.rawValue, at: 1)
                try statement.bind(Int64(bitPattern: range.seqs.lowerBound), at: 2)
                try statement.bind(Int64(bitPattern: range.seqs.upperBound), at: 3)
                try statement.bind(Int64(limit - result.count), at: 4)
                result.append(contentsOf: try Self.readAcknowledgedChanges(statement))
            }
            return result
        }
    }

    /// The value of a cursor (0 when never set).
    package func cursor(_ name: String) async throws -> UInt64 {
        try await readers.read { connection in
            UInt64(bitPattern: try connection.scalarInt("SELECT value FROM cursors WHERE name = ?1", .text(name)) ?? 0)
        }
    }

    /// Reads change rows (columns origin, seq, hlc, collection, record_id, kind, fields).
    static func readChanges(_ statement: SQLiteStatement) throws -> [Change] {
        var result: [Change] = []
        let parser = JSONParser()
        while try statement.step() { result.append(try readChange(statement, parser)) }
        return result
    }

    /// Reads change rows whose column 8 is the `acked` flag, each with that flag.
    static func readAcknowledgedChanges(_ statement: SQLiteStatement) throws -> [ChangeInTransit] {
        var result: [ChangeInTransit] = []
        let parser = JSONParser()
        while try statement.step() {
            result.append(ChangeInTransit(try readChange(statement, parser), acknowledged: statement.int64(8) == 1))
        }
        return result
    }

    private static func readChange(_ statement: SQLiteStatement, _ parser: JSONParser) throws -> Change {
        guard let origin = NodeID(statement.text(0)), let kind = ChangeKindCode.kind(statement.int64(5)) else {
            throw StoreError(.corrupted, "unreadable row in the change log")
        }
        let fields = try statement.withText(6) { try parser.parseObject($0) }
        return Change(id: ChangeID(origin: origin, seq: UInt64(bitPattern: statement.int64(1))),
                      hlc: HLCTimestamp(rawValue: UInt64(bitPattern: statement.int64(2))),
                      collection: statement.text(3), recordID: statement.text(4), kind: kind, fields: fields,
                      signature: statement.isNull(7) ? nil : ChangeSignature(wireText: statement.text(7)))
    }
}

/// What the outbox holds: ``LocalStore/outboxSummary()``.
package struct OutboxSummary: Sendable, Hashable {
    /// Changes waiting for the server's acknowledgement (every origin's).
    package var count: Int
    /// The clock of the oldest of them; `nil` when the outbox is empty.
    package var oldest: HLCTimestamp?

    package init(count: Int, oldest: HLCTimestamp?) {
        self.count = count
        self.oldest = oldest
    }
}
