#if PostgreSQL
import PostgresNIO
import SyncCore
import SyncStore

extension PostgresWriteTransaction {
    /// Commits `changes` in order: each change id once, merged, given the next server sequence.
    ///
    /// Outcomes (in the order of `changes`) and rows are those that committing the changes one at a
    /// time would give: a change id held already, or given earlier in the batch, is a duplicate of
    /// that first commit. It takes four statements, whatever the batch's size: which ids are held,
    /// the documents the new changes touch, their origins' watermarks, then one that writes it all.
    /// What is read stays true until `COMMIT`: every writer holds the head's lock.
    /// `submitters` names, for each change, the connection it came from (for its ack); without it,
    /// every change is the transaction's `submitter`'s.
    mutating func commit(_ changes: [Change], submitters: [UInt64]? = nil) async throws -> [CommitOutcome] {
        guard !changes.isEmpty else { return [] }
        var serverSeqs = try await serverSeqs(of: changes.map(\.id))
        // A new id repeated in the batch is read for twice: harmless, only its first occurrence is applied.
        let new = changes.filter { serverSeqs[$0.id] == nil }
        var documents = new.isEmpty ? [:] : try await loadStates(of: new.map(PostgresDocumentKey.init))
        var origins = new.isEmpty ? [:] : try await loadWatermarks(of: new)
        var rows = PostgresBatchRows()
        var outcomes: [CommitOutcome] = []
        for (index, change) in changes.enumerated() {
            let now = wallClock.nowMillis()
            if let first = serverSeqs[change.id] {
                outcomes.append(.committed(serverSeq: first, duplicate: true))
                continue
            }
            let serverSeq = head + 1
            head = serverSeq
            serverSeqs[change.id] = serverSeq
            _ = clock.observe(change.hlc, physicalMillis: now)
            let key = PostgresDocumentKey(change)
            var document = documents[key] ?? DocumentState()
            let before = (document.exists, document.body)
            var visibleChange = false
            if document.apply(change) {
                visibleChange = before.0 != document.exists || (document.exists && before.1 != document.body)
            }
            documents[key] = document
            rows.touch(key, serverSeq: serverSeq, now: now)
            let origin = change.id.origin
            if let contiguous = origins[origin.rawValue, default: PostgresWatermark()].advance(past: change.id.seq, hlc: change.hlc) {
                written.vector[origin] = contiguous
            }
            rows.append(change, serverSeq: serverSeq, now: now)
            written.collections.insert(change.collection)
            written.committed.append(CommittedChange(change: change, serverSeq: serverSeq, isLocal: false, visibleChange: visibleChange,
                                                     submitter: submitters?[index] ?? submitter))
            outcomes.append(.committed(serverSeq: serverSeq, duplicate: false))
        }
        if !rows.serverSeqs.isEmpty { try await write(rows, documents: documents, origins: origins) }
        return outcomes
    }

    /// The server sequences of those of `ids` already held.
    private func serverSeqs(of ids: [ChangeID]) async throws -> [ChangeID: UInt64] {
        var held: [ChangeID: UInt64] = [:]
        for row in try await connection.queryIfOpen("""
            SELECT origin, seq, server_seq FROM changes
            WHERE (origin, seq) IN (SELECT * FROM unnest(\(ids.map(\.origin.rawValue))::text[], \(ids.map { Int64(bitPattern: $0.seq) })::int8[]))
            """, logger: logger) {
            let (origin, seq, serverSeq) = try row.decode((String, Int64, Int64).self)
            guard let origin = NodeID(origin) else { throw StoreError(.corrupted, "unreadable origin in the server's change log") }
            held[ChangeID(origin: origin, seq: UInt64(bitPattern: seq))] = UInt64(bitPattern: serverSeq)
        }
        return held
    }

    /// The stored state of each of `keys` (none for a document never written).
    func loadStates(of keys: [PostgresDocumentKey]) async throws -> [PostgresDocumentKey: DocumentState] {
        let parser = JSONParser()
        var states: [PostgresDocumentKey: DocumentState] = [:]
        for row in try await connection.queryIfOpen("""
            SELECT collection, id, body, clocks FROM documents
            WHERE (collection, id) IN (SELECT * FROM unnest(\(keys.map(\.collection))::text[], \(keys.map(\.id))::text[]))
            """, logger: logger) {
            let (collection, id, body, clocks) = try row.decode((String, String, String, String).self)
            states[PostgresDocumentKey(collection: collection, id: id)] = try DocumentState(body: try parser.parseObject(Array(body.utf8)),
                                                                                            clocksJSON: clocks)
        }
        return states
    }

    /// Each origin's contiguous sequence, with the sequences held above it when one of `changes`
    /// fills the gap right after it (only then can the run above join).
    private func loadWatermarks(of changes: [Change]) async throws -> [String: PostgresWatermark] {
        let origins = Array(Set(changes.map(\.id.origin.rawValue)))
        var watermarks: [String: PostgresWatermark] = [:]
        for row in try await connection.queryIfOpen("""
            SELECT batch.origin, coalesce(o.contiguous, 0), c.seq
            FROM unnest(\(origins)::text[]) AS batch(origin)
            LEFT JOIN origins o ON o.origin = batch.origin
            LEFT JOIN changes c ON c.origin = batch.origin AND c.seq > coalesce(o.contiguous, 0)
                AND (batch.origin, coalesce(o.contiguous, 0) + 1)
                    IN (SELECT * FROM unnest(\(changes.map(\.id.origin.rawValue))::text[], \(changes.map { Int64(bitPattern: $0.id.seq) })::int8[]))
            """, logger: logger) {
            let (origin, contiguous, held) = try row.decode((String, Int64, Int64?).self)
            watermarks[origin, default: PostgresWatermark(contiguous: UInt64(bitPattern: contiguous))].held
                .formUnion(held.map { [UInt64(bitPattern: $0)] } ?? [])
        }
        return watermarks
    }

    /// Writes the batch's new changes, the final state of each document they touched, and their
    /// origins' watermarks, in one statement.
    private func write(_ rows: PostgresBatchRows, documents: [PostgresDocumentKey: DocumentState],
                       origins: [String: PostgresWatermark]) async throws {
        var bodies: [String] = [], clocks: [String] = [], visible: [Bool] = []
        for key in rows.touched {
            let document = documents[key] ?? DocumentState()
            var body: [UInt8] = []
            JSONValue.appendCanonical(object: document.body, to: &body)
            bodies.append(String(decoding: body, as: UTF8.self))
            clocks.append(document.clocksJSON)
            visible.append(document.exists)
        }
        let moved = origins.filter { $0.value.maxHLC != nil }.sorted { $0.key < $1.key }
        try await connection.queryIfOpen("""
            WITH new_changes AS (
                INSERT INTO changes(server_seq, origin, seq, hlc, collection, record_id, kind, fields, received_at, sig)
                SELECT server_seq, origin, seq, hlc, collection, record_id, kind, fields, received_at, NULLIF(sig, '')
                FROM unnest(\(rows.serverSeqs)::int8[], \(rows.origins)::text[], \(rows.seqs)::int8[], \(rows.hlcs)::int8[],
                            \(rows.collections)::text[], \(rows.recordIDs)::text[], \(rows.kinds)::int2[], \(rows.fields)::text[],
                            \(rows.receivedAt)::int8[], \(rows.signatures)::text[])
                    AS new(server_seq, origin, seq, hlc, collection, record_id, kind, fields, received_at, sig)
            ), new_documents AS (
                INSERT INTO documents(collection, id, body, clocks, visible, updated_seq, updated_at)
                SELECT * FROM unnest(\(rows.touched.map(\.collection))::text[], \(rows.touched.map(\.id))::text[], \(bodies)::text[],
                                     \(clocks)::text[], \(visible)::bool[], \(rows.updatedSeqs)::int8[], \(rows.updatedAt)::int8[])
                ON CONFLICT (collection, id) DO UPDATE SET body = excluded.body, clocks = excluded.clocks, visible = excluded.visible,
                    updated_seq = excluded.updated_seq, updated_at = excluded.updated_at
            )
            INSERT INTO origins(origin, contiguous, max_hlc)
            SELECT * FROM unnest(\(moved.map(\.key))::text[], \(moved.map { Int64(bitPattern: $0.value.contiguous) })::int8[],
                                 \(moved.map { $0.value.maxHLC ?? 0 })::int8[])
            ON CONFLICT (origin) DO UPDATE SET contiguous = excluded.contiguous, max_hlc = greatest(origins.max_hlc, excluded.max_hlc)
            """, logger: logger)
    }
}

/// A document's key in the `documents` table.
struct PostgresDocumentKey: Hashable {
    let collection: String
    let id: String

    init(collection: String, id: String) {
        self.collection = collection
        self.id = id
    }

    /// The document `change` is a change of.
    init(_ change: Change) {
        self.init(collection: change.collection, id: change.recordID)
    }
}

/// An origin's watermark while a batch is committed: what ``PostgresWriteTransaction`` writes to
/// `origins` after it, moved as each new change's own commit would move it.
struct PostgresWatermark {
    /// The highest sequence held without a gap.
    var contiguous: UInt64 = 0
    /// Sequences held above `contiguous`: those read (when the batch may fill the gap) and the batch's.
    var held: Set<UInt64> = []
    /// The greatest stamp of the batch's changes of this origin (compared as stored), if it has any.
    var maxHLC: Int64?

    /// Records a new change `seq`; moves past it and the run held above it when it fills the gap.
    ///
    /// - Returns: the new contiguous sequence, if it moved.
    mutating func advance(past seq: UInt64, hlc: HLCTimestamp) -> UInt64? {
        maxHLC = max(maxHLC ?? .min, Int64(bitPattern: hlc.rawValue))
        held.insert(seq)
        guard seq == contiguous + 1 else { return nil }
        while held.contains(contiguous + 1) { contiguous += 1 }
        return contiguous
    }
}

/// The rows a batch inserts into `changes`, column by column, and the documents it touched, in the
/// order first touched, with the server sequence and time of the last change to each. (Package
/// access: the cluster benchmark's raw-INSERT baseline writes the same rows.)
package struct PostgresBatchRows {
    package var serverSeqs: [Int64] = [], origins: [String] = [], seqs: [Int64] = [], hlcs: [Int64] = []
    package var collections: [String] = [], recordIDs: [String] = [], kinds: [Int16] = [], fields: [String] = []
    package var receivedAt: [Int64] = []
    /// Signatures as text, `''` for none (`NULLIF` makes it `NULL` again: a signature is never empty).
    package var signatures: [String] = []
    private(set) var touched: [PostgresDocumentKey] = []
    private(set) var updatedSeqs: [Int64] = [], updatedAt: [Int64] = []
    private var touchedIndex: [PostgresDocumentKey: Int] = [:]

    package init() {}

    package mutating func append(_ change: Change, serverSeq: UInt64, now: UInt64) {
        serverSeqs.append(Int64(bitPattern: serverSeq))
        origins.append(change.id.origin.rawValue)
        seqs.append(Int64(bitPattern: change.id.seq))
        hlcs.append(Int64(bitPattern: change.hlc.rawValue))
        collections.append(change.collection)
        recordIDs.append(change.recordID)
        kinds.append(Int16(ChangeKindCode.code(change.kind)))
        fields.append(JSONValue.object(change.fields).canonicalString)
        receivedAt.append(Int64(bitPattern: now))
        signatures.append(change.signature?.wireText ?? "")
    }

    mutating func touch(_ key: PostgresDocumentKey, serverSeq: UInt64, now: UInt64) {
        if let index = touchedIndex[key] {
            updatedSeqs[index] = Int64(bitPattern: serverSeq)
            updatedAt[index] = Int64(bitPattern: now)
        } else {
            touchedIndex[key] = touched.count
            touched.append(key)
            updatedSeqs.append(Int64(bitPattern: serverSeq))
            updatedAt.append(Int64(bitPattern: now))
        }
    }
}
#endif
