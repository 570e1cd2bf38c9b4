import SyncCore

extension WriteContext {
    /// Marks a change as committed by the server, and moves its origin's acknowledged mark over
    /// every contiguous acknowledged change.
    package func markAcknowledged(_ id: ChangeID, serverSeq: UInt64?) throws {
        try connection.run("UPDATE changes SET acked = 1, server_seq = coalesce(server_seq, nullif(?3, 0)) WHERE origin = ?1 AND seq = ?2",
                           .text(id.origin.rawValue), .int(Int64(bitPattern: id.seq)), .int(Int64(bitPattern: serverSeq ?? 0)))
        try advanceAcknowledged(origin: id.origin)
    }

    /// Marks the origin's changes in `ranges` as committed by the server (sequence unknown here).
    package func markAcknowledged(origin: NodeID, ranges: [ClosedRange<UInt64>]) throws {
        for range in ranges {
            try connection.run("UPDATE changes SET acked = 1 WHERE origin = ?1 AND seq BETWEEN ?2 AND ?3 AND acked = 0",
                               .text(origin.rawValue), .int(Int64(clamping: range.lowerBound)), .int(Int64(clamping: range.upperBound)))
        }
        try advanceAcknowledged(origin: origin)
    }

    /// Moves the origin's acknowledged mark over the acknowledged changes just above it.
    package func advanceAcknowledged(origin: NodeID) throws {
        var through = UInt64(bitPattern: try connection.scalarInt("SELECT through FROM acks WHERE origin = ?1", .text(origin.rawValue)) ?? 0)
        let start = through
        let statement = try connection.statement(static: "SELECT seq, acked FROM changes WHERE origin = ?1 AND seq > ?2 ORDER BY seq")
        try statement.bind(origin.rawValue, at: 1)
        try statement.bind(Int64(bitPattern: through), at: 2)
        while try statement.step() {
            guard UInt64(bitPattern: statement.int64(0)) == through + 1, statement.int64(1) == 1 else { break }
            through += 1
        }
        statement.reset()
        guard through > start else { return }
        try connection.run("INSERT INTO acks(origin, through) VALUES (?1, ?2) ON CONFLICT(origin) DO UPDATE SET through = excluded.through",
                           .text(origin.rawValue), .int(Int64(bitPattern: through)))
    }
}

/// A document with changes waiting for the server.
package struct PendingKey: Hashable {
    package let collection: String
    package let recordID: String
}

extension WriteContext {
    /// The documents this node has unacknowledged changes to.
    package func pendingRecords() throws -> Set<PendingKey> {
        let through = try connection.scalarInt("SELECT through FROM acks WHERE origin = ?1", .text(nodeID.rawValue)) ?? 0
        let statement = try connection.statement(static: "SELECT collection, record_id FROM changes WHERE origin = ?1 AND seq > ?2 AND acked = 0")
        try statement.bind(nodeID.rawValue, at: 1)
        try statement.bind(through, at: 2)
        var keys = Set<PendingKey>()
        while try statement.step() { keys.insert(PendingKey(collection: statement.text(0), recordID: statement.text(1))) }
        return keys
    }

    /// This node's unacknowledged changes to one document, oldest first.
    package func pendingChanges(_ key: PendingKey) throws -> [Change] {
        let through = try connection.scalarInt("SELECT through FROM acks WHERE origin = ?1", .text(nodeID.rawValue)) ?? 0
        let statement = try connection.statement(static: """
            SELECT origin, seq, hlc, collection, record_id, kind, fields, sig FROM changes
            WHERE origin = ?1 AND seq > ?2 AND acked = 0 AND collection = ?3 AND record_id = ?4 ORDER BY seq
            """)
        try statement.bind(nodeID.rawValue, at: 1)
        try statement.bind(through, at: 2)
        try statement.bind(key.collection, at: 3)
        try statement.bind(key.recordID, at: 4)
        return try LocalStore.readChanges(statement)
    }

    /// Moves a cursor forward (never back).
    package func moveCursor(_ name: String, to value: UInt64) throws {
        try connection.run(static: """
            INSERT INTO cursors(name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)
            """, .text(name), .int(Int64(bitPattern: value)))
    }
}
