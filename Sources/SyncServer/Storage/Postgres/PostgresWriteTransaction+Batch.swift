#if PostgreSQL
import PostgresNIO
import SyncCore
import SyncStore

extension PostgresWriteTransaction {
    /// Commits `changes` in order: each change id once, merged, given the next server sequence.
    ///
    /// Outcomes (in the order of `changes`) and rows are those that committing the changes one at a
    /// time would give: a change id held already, or given earlier in the batch, is a duplicate of
    /// that first commit. It takes two statements, whatever the batch's size: one that reads what
    /// the batch depends on (``prepare(_:fields:submitters:after:)``), then one that writes it all
    /// (``execute(_:)``). Both run under the head's lock, and every round trip under it is one more
    /// wait for the lock in every other instance, so there are no more than that. What is read
    /// stays true until `COMMIT`: every writer holds the head's lock.
    /// `fields`, when given, holds each change's fields as canonical JSON (encoded before the lock
    /// was taken). `submitters` names, for each change, the connection it came from (for its ack);
    /// without it, every change is the transaction's `submitter`'s.
    mutating func commit(_ changes: [Change], fields: [String]? = nil, submitters: [UInt64]? = nil) async throws -> [CommitOutcome] {
        guard !changes.isEmpty else { return [] }
        let prepared = try await prepare(changes, fields: fields, submitters: submitters)
        try await execute(prepared)
        return prepared.outcomes
    }

    /// Reads what `changes` depend on, merges them and encodes what the write statement sends:
    /// everything of a commit but that statement (``execute(_:)``).
    ///
    /// Holding the head's lock, it reads the table as the last commit left it. With `base` it runs
    /// before the lock is taken, while the transaction `base` describes holds it: what that one
    /// wrote comes from `base`, the rest from the table, which nobody else can change while it holds
    /// the lock. Such a preparation is what the table will hold only if `base` commits and the head
    /// is where `base` leaves it once this transaction holds the lock (``PostgresWriter``).
    mutating func prepare(_ changes: [Change], fields: [String]? = nil, submitters: [UInt64]? = nil,
                          after base: PostgresSpeculation? = nil) async throws -> PostgresPreparedBatch {
        let state = try await readState(of: changes, after: base)
        var (serverSeqs, documents, origins) = (state.held, state.documents, state.origins)
        written.documentsRead += state.read
        var rows = PostgresBatchRows()
        var outcomes: [CommitOutcome] = []
        outcomes.reserveCapacity(changes.count)
        var lastCollection: String?
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
            let key = state.keyOf[index]
            var document = documents[key] ?? DocumentState()
            let visibleChange = document.applyVisibly(change).visible
            documents[key] = document
            rows.touch(key, serverSeq: serverSeq, now: now)
            let origin = change.id.origin
            if let contiguous = origins[origin.rawValue, default: PostgresWatermark()].advance(past: change.id.seq, hlc: change.hlc) {
                written.vector[origin] = contiguous
            }
            rows.append(change, serverSeq: serverSeq, now: now, fields: fields?[index])
            if change.collection != lastCollection {
                written.collections.insert(change.collection)
                lastCollection = change.collection
            }
            written.committed.append(CommittedChange(change: change, serverSeq: serverSeq, isLocal: false, visibleChange: visibleChange,
                                                     submitter: submitters?[index] ?? submitter))
            outcomes.append(.committed(serverSeq: serverSeq, duplicate: false))
        }
        if written.ids.isEmpty { written.ids = serverSeqs } else { written.ids.merge(serverSeqs) { $1 } }
        written.watermarks.merge(origins) { $1 }
        let write = rows.serverSeqs.isEmpty ? nil : encode(rows, keys: state.keys, documents: documents, origins: origins)
        return PostgresPreparedBatch(outcomes: outcomes, write: write)
    }

    /// What this transaction leaves once prepared, for the next to prepare on before it holds the lock.
    func speculation(token: UInt64) -> PostgresSpeculation {
        PostgresSpeculation(token: token, head: head, clock: clock, documents: written.documents, ids: written.ids,
                            watermarks: written.watermarks)
    }

    /// In one statement: the server sequences of those of `changes`' ids already held; the stored
    /// state of each document they touch (none for a document never written): as this transaction
    /// wrote it, or from ``cached``, or else from `documents`; and each of their origins'
    /// contiguous sequence, with the sequences held above it when one of `changes` fills the gap
    /// right after it (only then can the run above join). A change already held is read for
    /// like the others: its document and origin are read for nothing, and it is applied nowhere.
    ///
    /// Documents are numbered in the order first touched (`keys`; `keyOf` gives each change's), so
    /// that the batch hashes each change's key once: its states are an array by that number.
    ///
    /// With `base` (a transaction that holds the lock and has not committed): the documents, ids
    /// and watermarks it wrote are taken from it, as the table will have them if it commits.
    private func readState(of changes: [Change], after base: PostgresSpeculation?) async throws
        -> (held: [ChangeID: UInt64], keys: [PostgresDocumentKey], keyOf: [Int], documents: [DocumentState?],
            origins: [String: PostgresWatermark], read: Int) {
        let parser = JSONParser()
        var read = 0
        var held: [ChangeID: UInt64] = [:]
        var watermarks: [String: PostgresWatermark] = [:]
        let idOrigins = changes.map(\.id.origin.rawValue), idSeqs = changes.map { Int64(bitPattern: $0.id.seq) }
        var numbers: [PostgresDocumentKey: Int] = [:], keys: [PostgresDocumentKey] = [], keyOf: [Int] = []
        keyOf.reserveCapacity(changes.count)
        for change in changes {
            let key = PostgresDocumentKey(change)
            if let number = numbers[key] {
                keyOf.append(number)
            } else {
                numbers[key] = keys.count
                keyOf.append(keys.count)
                keys.append(key)
            }
        }
        // Each document is asked for with what its row said when this instance wrote it (-1: not
        // held), and comes back only if its row says otherwise (or it has none). Those this
        // transaction wrote already are not asked for.
        var states = [DocumentState?](repeating: nil, count: keys.count)
        var asked: [PostgresDocumentKey] = [], expectedSeqs: [Int64] = [], expectedCommits: [Int64] = []
        for (number, key) in keys.enumerated() {
            if !written.documents.isEmpty, let entry = written.documents[key] {
                states[number] = entry.state
                continue
            }
            if let entry = base?.documents[key] {
                states[number] = entry.state
                continue
            }
            let entry = cached[key]
            states[number] = entry?.state
            asked.append(key)
            expectedSeqs.append(entry.map { Int64(bitPattern: $0.seq) } ?? -1)
            expectedCommits.append(entry?.commitID ?? 0)
        }
        let origins = Array(Set(idOrigins))
        for row in try await connection.queryIfOpen("""
            WITH ids AS (SELECT * FROM unnest(\(idOrigins)::text[], \(idSeqs)::int8[]) AS ids(origin, seq))
            SELECT 0::int2, c.origin, NULL::text, NULL::text, NULL::text, c.seq, c.server_seq
            FROM changes c
            WHERE (c.origin, c.seq) IN (SELECT origin, seq FROM ids)
            UNION ALL
            SELECT 1::int2, k.collection, k.id, d.body, d.clocks, NULL::int8, NULL::int8
            FROM unnest(\(asked.map(\.collection))::text[], \(asked.map(\.id))::text[], \(expectedSeqs)::int8[], \(expectedCommits)::int8[])
                AS k(collection, id, seq, commit_id)
            LEFT JOIN documents d ON d.collection = k.collection AND d.id = k.id
            WHERE (d.updated_seq, d.updated_commit) IS DISTINCT FROM (k.seq, k.commit_id)
            UNION ALL
            SELECT 2::int2, batch.origin, NULL::text, NULL::text, NULL::text, coalesce(o.contiguous, 0), c.seq
            FROM unnest(\(origins)::text[]) AS batch(origin)
            LEFT JOIN origins o ON o.origin = batch.origin
            LEFT JOIN changes c ON c.origin = batch.origin AND c.seq > coalesce(o.contiguous, 0)
                AND (batch.origin, coalesce(o.contiguous, 0) + 1) IN (SELECT origin, seq FROM ids)
            """, logger: logger) {
            let (what, text, id, body, clocks, number, other) = try row.decode((Int16, String, String?, String?, String?, Int64?, Int64?).self)
            switch what {
            case 0:
                guard let origin = NodeID(text), let seq = number, let serverSeq = other else {
                    throw StoreError(.corrupted, "unreadable origin in the server's change log")
                }
                held[ChangeID(origin: origin, seq: UInt64(bitPattern: seq))] = UInt64(bitPattern: serverSeq)
            case 1:
                guard let id, let number = numbers[PostgresDocumentKey(collection: text, id: id)] else {
                    throw StoreError(.corrupted, "a document the batch did not ask for")
                }
                if let body, let clocks {
                    read += 1
                    states[number] = try DocumentState(stored: body, clocks: clocks, parser: parser)
                } else {
                    states[number] = nil  // no row (a new document, or one a restored database never had)
                }
            default:
                watermarks[text, default: PostgresWatermark(contiguous: UInt64(bitPattern: number ?? 0))].held
                    .formUnion(other.map { [UInt64(bitPattern: $0)] } ?? [])
            }
        }
        if let base {
            for change in changes where held[change.id] == nil {
                if let serverSeq = base.ids[change.id] { held[change.id] = serverSeq }
            }
            for (origin, watermark) in base.watermarks where watermarks[origin] != nil {
                watermarks[origin] = PostgresWatermark(contiguous: watermark.contiguous, held: watermark.held)
            }
        }
        return (held, keys, keyOf, states, watermarks, read)
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
            states[PostgresDocumentKey(collection: collection, id: id)] = try DocumentState(stored: body, clocks: clocks, parser: parser)
        }
        return states
    }

    /// Encodes what the write statement sends (``execute(_:)``): the batch's new changes, the final
    /// state of each document they touched, their origins' watermarks, the head and the notice.
    /// What it writes is recorded (``PostgresWrittenChanges/documents``) for the batches after this
    /// one and, once `COMMIT` answers, for the instance's cache (a failed statement fails the whole
    /// transaction).
    private mutating func encode(_ rows: PostgresBatchRows, keys: [PostgresDocumentKey], documents: [DocumentState?],
                                 origins: [String: PostgresWatermark]) -> PostgresBatchWrite {
        // This transaction's id in each row it writes: a restored database that gives these numbers
        // again does not give them with this id (``PostgresDocumentCache``).
        let commitID = Int64.random(in: 1 ... .max)
        var bodies: [String] = [], clocks: [String] = [], visible: [Bool] = []
        written.documents.reserveCapacity(written.documents.count + rows.touched.count)
        let touched = rows.touched.map { keys[$0] }
        for (index, (number, key)) in zip(rows.touched, touched).enumerated() {
            let document = documents[number] ?? DocumentState()
            var body: [UInt8] = []
            JSONValue.appendCanonical(object: document.body, to: &body)
            let clocksJSON = document.clocksJSON
            bodies.append(String(decoding: body, as: UTF8.self))
            clocks.append(clocksJSON)
            visible.append(document.exists)
            written.documents[key] = PostgresDocumentCache.Entry(state: document, seq: UInt64(bitPattern: rows.updatedSeqs[index]),
                                                                 commitID: commitID, bytes: body.count + clocksJSON.utf8.count)
        }
        let moved = origins.filter { $0.value.maxHLC != nil }.sorted { $0.key < $1.key }
        // The batch's numbers are the ones right below the head: `head - count + 1 ... head`.
        let notice = PostgresCommitNotice(head: head, from: head - UInt64(rows.serverSeqs.count), collections: Set(rows.collections))
        return PostgresBatchWrite(rows: rows, touched: touched, bodies: bodies, clocks: clocks, visible: visible, commitID: commitID,
                                  movedOrigins: moved.map(\.key), movedContiguous: moved.map { Int64(bitPattern: $0.value.contiguous) },
                                  movedHLCs: moved.map { $0.value.maxHLC ?? 0 }, notice: notice)
    }

    /// Writes what ``prepare(_:fields:submitters:after:)`` encoded, and rings the other instances'
    /// doorbell (saying which numbers the batch gave, in which collections: ``PostgresCommitNotice``),
    /// in one statement. Nothing when the batch held only duplicates.
    func execute(_ prepared: PostgresPreparedBatch) async throws {
        guard let write = prepared.write else { return }
        let rows = write.rows, touched = write.touched
        try await connection.queryIfOpen("""
            WITH new_changes AS (
                INSERT INTO changes(server_seq, origin, seq, hlc, collection, record_id, kind, fields, received_at, sig)
                SELECT server_seq, origin, seq, hlc, collection, record_id, kind, fields, received_at, NULLIF(sig, '')
                FROM unnest(\(rows.serverSeqs)::int8[], \(rows.origins)::text[], \(rows.seqs)::int8[], \(rows.hlcs)::int8[],
                            \(rows.collections)::text[], \(rows.recordIDs)::text[], \(rows.kinds)::int2[], \(rows.fields)::text[],
                            \(rows.receivedAt)::int8[], \(rows.signatures)::text[])
                    AS new(server_seq, origin, seq, hlc, collection, record_id, kind, fields, received_at, sig)
            ), new_documents AS (
                INSERT INTO documents(collection, id, body, clocks, visible, updated_seq, updated_at, updated_commit)
                SELECT *, \(write.commitID)::int8 FROM unnest(\(touched.map(\.collection))::text[], \(touched.map(\.id))::text[],
                                     \(write.bodies)::text[], \(write.clocks)::text[], \(write.visible)::bool[], \(rows.updatedSeqs)::int8[],
                                     \(rows.updatedAt)::int8[])
                ON CONFLICT (collection, id) DO UPDATE SET body = excluded.body, clocks = excluded.clocks, visible = excluded.visible,
                    updated_seq = excluded.updated_seq, updated_at = excluded.updated_at, updated_commit = excluded.updated_commit
            ), new_origins AS (
                INSERT INTO origins(origin, contiguous, max_hlc)
                SELECT * FROM unnest(\(write.movedOrigins)::text[], \(write.movedContiguous)::int8[], \(write.movedHLCs)::int8[])
                ON CONFLICT (origin) DO UPDATE SET contiguous = excluded.contiguous, max_hlc = greatest(origins.max_hlc, excluded.max_hlc)
            ), new_head AS (
                UPDATE synclayer_head SET seq = \(Int64(bitPattern: write.notice.head)) WHERE id = 1
            )
            SELECT pg_notify('synclayer_commits', \(write.notice.payload))
            """, logger: logger)
    }
}

/// A batch read, merged and encoded (``PostgresWriteTransaction/prepare(_:fields:submitters:after:)``):
/// its outcomes, and the write statement's values (none when every change was held already).
struct PostgresPreparedBatch {
    let outcomes: [CommitOutcome]
    let write: PostgresBatchWrite?
}

/// The values of one write statement (``PostgresWriteTransaction/execute(_:)``).
struct PostgresBatchWrite {
    let rows: PostgresBatchRows
    let touched: [PostgresDocumentKey]
    let bodies: [String], clocks: [String], visible: [Bool]
    let commitID: Int64
    let movedOrigins: [String], movedContiguous: [Int64], movedHLCs: [Int64]
    /// Also says the head the statement leaves.
    let notice: PostgresCommitNotice
}

/// What a prepared transaction that holds the head's lock leaves, if it commits: the next
/// transaction prepares on it before the lock is its own (``PostgresWriter``).
struct PostgresSpeculation: Sendable {
    /// The ``PostgresWriter``'s token of that transaction, to ask whether it committed.
    let token: UInt64
    /// The head it leaves.
    let head: UInt64
    let clock: HybridLogicalClock
    /// The documents it writes, as it writes them.
    let documents: [PostgresDocumentKey: PostgresDocumentCache.Entry]
    /// The server sequence of each change id it holds: those it gives and those it found held.
    let ids: [ChangeID: UInt64]
    /// Its origins' watermarks as it leaves them.
    let watermarks: [String: PostgresWatermark]
}

extension DocumentState {
    /// A document as the `documents` table stores it: its body and its clocks, as JSON.
    fileprivate init(stored body: String, clocks: String, parser: JSONParser) throws {
        try self.init(body: try parser.parseObject(Array(body.utf8)), clocksJSON: clocks)
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
struct PostgresWatermark: Sendable {
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
    /// The batch's documents (their numbers in the batch) in the order first touched.
    private(set) var touched: [Int] = []
    private(set) var updatedSeqs: [Int64] = [], updatedAt: [Int64] = []
    /// Where each document number is in `touched` (-1: not touched yet).
    private var touchedIndex: [Int] = []

    package init() {}

    /// Appends `change`'s row; `fields`, if given, is its fields as canonical JSON.
    package mutating func append(_ change: Change, serverSeq: UInt64, now: UInt64, fields encoded: String? = nil) {
        serverSeqs.append(Int64(bitPattern: serverSeq))
        origins.append(change.id.origin.rawValue)
        seqs.append(Int64(bitPattern: change.id.seq))
        hlcs.append(Int64(bitPattern: change.hlc.rawValue))
        collections.append(change.collection)
        recordIDs.append(change.recordID)
        kinds.append(Int16(ChangeKindCode.code(change.kind)))
        fields.append(encoded ?? JSONValue.canonicalString(object: change.fields))
        receivedAt.append(Int64(bitPattern: now))
        signatures.append(change.signature?.wireText ?? "")
    }

    /// Records that document `number` (its number in the batch) was written by `serverSeq` at `now`.
    mutating func touch(_ number: Int, serverSeq: UInt64, now: UInt64) {
        if number >= touchedIndex.count { touchedIndex += repeatElement(-1, count: number - touchedIndex.count + 1) }
        let index = touchedIndex[number]
        if index >= 0 {
            updatedSeqs[index] = Int64(bitPattern: serverSeq)
            updatedAt[index] = Int64(bitPattern: now)
        } else {
            touchedIndex[number] = touched.count
            touched.append(number)
            updatedSeqs.append(Int64(bitPattern: serverSeq))
            updatedAt.append(Int64(bitPattern: now))
        }
    }
}
#endif
