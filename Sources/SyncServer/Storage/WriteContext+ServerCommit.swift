import SyncCore
import SyncStore

extension WriteContext {
    /// Commits one change on the server: once per change id, merged, given the next server sequence.
    /// `canonicalFields`, when given, is the canonical encoding of the change's fields (the limits'
    /// check makes it).
    mutating func commitOnServer(_ change: Change, canonicalFields: [UInt8]? = nil) throws -> CommitOutcome {
        try commitOnServer(change, document: nil, canonicalFields: canonicalFields).outcome
    }

    /// ``commitOnServer(_:)`` with the document's state already read in this transaction, if the
    /// caller has it (`.some(nil)`: there is no such document yet). `asNew`: the change is the
    /// server's own insert, stamped before its document was read, and written as a first write
    /// unless its document exists; if the document does exist and holds a stamp at or after the
    /// change's, the change is given the next stamp after that one, as ``commitLegacy(_:)`` does
    /// for a document it reads first. Returns the change as committed.
    private mutating func commitOnServer(_ change: Change, document loaded: DocumentState??, asNew: Bool = false,
                                         canonicalFields: [UInt8]?) throws -> (outcome: CommitOutcome, change: Change) {
        var change = change
        let insert = try connection.statement(static: """
            INSERT INTO changes(origin, seq, hlc, collection, record_id, kind, fields, received_at, sig)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(origin, seq) DO NOTHING
            """)
        let now = wallClock.nowMillis()
        try insert.bind(change.id.origin.rawValue, at: 1)
        try insert.bind(Int64(bitPattern: change.id.seq), at: 2)
        try insert.bind(Int64(bitPattern: change.hlc.rawValue), at: 3)
        try insert.bind(change.collection, at: 4)
        try insert.bind(change.recordID, at: 5)
        try insert.bind(Int64(ChangeKindCode.code(change.kind)), at: 6)
        let fields = canonicalFields ?? JSONValue.object(change.fields).canonicalBytes
        try insert.bind(utf8: fields, at: 7)
        try insert.bind(Int64(bitPattern: now), at: 8)
        try insert.bind(change.signature.map { .text($0.wireText) } ?? .null, at: 9)
        while try insert.step() {}
        guard connection.changes == 1 else {
            let existing = try connection.scalarInt("SELECT server_seq FROM changes WHERE origin = ?1 AND seq = ?2",
                                                    .text(change.id.origin.rawValue), .int(Int64(bitPattern: change.id.seq))) ?? 0
            return (.committed(serverSeq: UInt64(existing), duplicate: true), change)
        }
        let serverSeq = UInt64(sqlite3LastInsertRowID())
        // An original-protocol insert is of a record the server does not hold, as a rule: it is
        // written as a first write, and only if the record exists after all is it read and merged
        // as any other change is. That spares a new record's read, a B-tree search of its own. A
        // node's insert is read first: `save()` makes inserts of existing documents as often as of
        // new ones, and for those a first attempt would be one search more, not one fewer.
        var visibleChange = true
        let writtenAsNew: Bool
        if asNew {
            var document = DocumentState()
            // What the general path below finds for a document that did not exist.
            visibleChange = document.applyVisibly(change).visible
            writtenAsNew = try storeServerState(document, body: fields, collection: change.collection, id: change.recordID,
                                                serverSeq: serverSeq, at: now, onlyIfNew: true)
        } else {
            writtenAsNew = false
        }
        if !writtenAsNew {
            var document = try (loaded ?? loadState(collection: change.collection, id: change.recordID)) ?? DocumentState()
            if asNew, let latest = document.maxStamp, latest.hlc >= change.hlc {
                change = Change(id: change.id, hlc: latest.hlc.successor, collection: change.collection, recordID: change.recordID,
                                kind: change.kind, fields: change.fields, signature: change.signature)
                try connection.run(static: "UPDATE changes SET hlc = ?1 WHERE server_seq = ?2",
                                   .int(Int64(bitPattern: change.hlc.rawValue)), .int(Int64(bitPattern: serverSeq)))
            }
            // A first write to a document (an insert or an update) leaves exactly its fields as the
            // body: their canonical bytes, just written to the change's row, are the body's too.
            let body = document.lifecycle == nil && document.fields.isEmpty && change.kind != .delete ? fields : nil
            visibleChange = document.applyVisibly(change).visible
            try storeServerState(document, body: body, collection: change.collection, id: change.recordID, serverSeq: serverSeq, at: now)
        }
        if !state.clock.observe(change.hlc, physicalMillis: now) { state.clampedObservations += 1 }
        try advanceVector(origin: change.id.origin, seq: change.id.seq, hlc: change.hlc)
        record(change, serverSeq: serverSeq, isLocal: false, visibleChange: visibleChange, canonicalFields: fields)
        return (.committed(serverSeq: serverSeq, duplicate: false), change)
    }

    /// Stamps a write of the original protocol as a change of the server's own, then commits it;
    /// `canonicalFields` as for ``commitOnServer(_:canonicalFields:)``.
    mutating func commitLegacy(_ write: LegacyWrite, canonicalFields: [UInt8]? = nil) throws -> SequencedChange {
        var hlc = nextTimestamp()
        // An insert's record is read only if it exists, and the change restamped then
        // (``commitOnServer(_:document:asNew:canonicalFields:)``); any other write's record is
        // read first.
        var document: DocumentState?? = nil
        if write.kind != .insert {
            let stored = try loadState(collection: write.collection, id: write.recordID)
            if let latest = stored?.maxStamp, latest.hlc >= hlc {
                hlc = latest.hlc.successor
            }
            document = .some(stored)
        }
        // Stored unsigned: the server signs its own changes as they leave it for a node
        // (`ServerSigning`), as a node does; clients of the original protocol need no signature.
        let change = Change(id: ChangeID(origin: nodeID, seq: takeSequence()), hlc: hlc, collection: write.collection,
                            recordID: write.recordID, kind: write.kind, fields: write.fields)
        guard case (.committed(let serverSeq, _), let committed) = try commitOnServer(change, document: document, asNew: write.kind == .insert,
                                                                                      canonicalFields: canonicalFields) else {
            throw StoreError(.corrupted, "the server's own change was refused")
        }
        return SequencedChange(change: committed, serverSeq: serverSeq)
    }

    /// Writes a document's merge state; `encodedBody`, when given, is its body's canonical encoding.
    /// With `onlyIfNew`, nothing is written if the document exists; returns whether it was written.
    @discardableResult
    func storeServerState(_ state: DocumentState, body encodedBody: [UInt8]?, collection: String, id: String, serverSeq: UInt64,
                          at millis: UInt64, onlyIfNew: Bool = false) throws -> Bool {
        let statement = onlyIfNew
            ? try connection.statement(static: """
                INSERT INTO documents(collection, id, body, clocks, visible, updated_seq, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(collection, id) DO NOTHING
                """)
            : try connection.statement(static: """
                INSERT OR REPLACE INTO documents(collection, id, body, clocks, visible, updated_seq, updated_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                """)
        try statement.bind(collection, at: 1)
        try statement.bind(id, at: 2)
        if let encodedBody {
            try statement.bind(utf8: encodedBody, at: 3)
        } else {
            var body: [UInt8] = []
            JSONValue.appendCanonical(object: state.body, to: &body)
            try statement.bind(utf8: body, at: 3)
        }
        try statement.bind(utf8: state.clocksBytes, at: 4)
        try statement.bind(state.exists ? 1 : 0, at: 5)
        try statement.bind(Int64(bitPattern: serverSeq), at: 6)
        try statement.bind(Int64(bitPattern: millis), at: 7)
        while try statement.step() {}
        return !onlyIfNew || connection.changes == 1
    }

    private func sqlite3LastInsertRowID() -> Int64 {
        connection.lastInsertRowID
    }
}
