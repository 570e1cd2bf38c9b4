#if PostgreSQL
import Logging
import PostgresNIO
import SyncCore
import SyncStore
import Synchronization

/// Runs a PostgreSQL store's write transactions one at a time, and tells the commit observers of
/// each, in order, once it is committed.
///
/// Each transaction locks `synclayer_head` first (`SELECT … FOR UPDATE`): writers of every instance
/// on the database queue there, and numbers are given under the lock, so they are dense and become
/// visible in commit order. Everything a commit reads (documents, origins) is read under that lock,
/// so it is what the last commit of any instance left. A commit whose outcome is unknown (the
/// connection lost at `COMMIT`) throws: the client gets no acknowledgement, sends again, and the
/// change id's uniqueness answers the retry.
actor PostgresWriter {
    let client: PostgresClient
    let serverID: NodeID
    let signer: ChangeSigner
    nonisolated let wallClock: any WallClock
    let notifier: CommitNotifier
    let logger: Logger
    private var clock: HybridLogicalClock
    private let held: Mutex<VersionVector>
    private var closed = false
    /// The highest server sequence this instance's observers have heard of: every commit up to it,
    /// of any instance, was published here once, in order.
    private var published: UInt64

    init(client: PostgresClient, serverID: NodeID, signer: ChangeSigner, clock: HybridLogicalClock, held: VersionVector,
         head: UInt64, wallClock: any WallClock, notifier: CommitNotifier, logger: Logger) {
        self.published = head
        self.client = client
        self.serverID = serverID
        self.signer = signer
        self.clock = clock
        self.held = Mutex(held)
        self.wallClock = wallClock
        self.notifier = notifier
        self.logger = logger
    }

    /// Per origin, the highest sequence held without a gap, as of this instance's last commit.
    nonisolated var heldVector: VersionVector { held.withLock { $0 } }

    func close() {
        closed = true
    }

    func commit(_ changes: [Change], submitter: UInt64) async throws -> [(ChangeID, CommitOutcome)] {
        try await transaction(submitter: submitter) { transaction in
            var outcomes: [(ChangeID, CommitOutcome)] = []
            for change in changes { outcomes.append((change.id, try await transaction.commit(change))) }
            return outcomes
        }
    }

    func commitLegacy(_ writes: [LegacyWrite], submitter: UInt64) async throws -> [SequencedChange] {
        try await transaction(submitter: submitter) { transaction in
            var sequenced: [SequencedChange] = []
            for write in writes { sequenced.append(try await transaction.commitLegacy(write)) }
            return sequenced
        }
    }

    /// Runs `body` in a transaction holding the head's lock, then publishes what it committed.
    private func transaction<Result: Sendable>(submitter: UInt64,
                                               _ body: (inout PostgresWriteTransaction) async throws -> Result) async throws -> Result {
        guard !closed else { throw StoreError(.closed, "the server's store is closed") }
        let startClock = clock
        let (result, written, endClock) = try await client.withConnection { connection in
            try await connection.withTransaction(logger: logger) { connection in
                var head: Int64 = 0
                for try await seq in try await connection.query("SELECT seq FROM synclayer_head WHERE id = 1 FOR UPDATE", logger: logger)
                    .decode(Int64.self) {
                    head = seq
                }
                var transaction = PostgresWriteTransaction(connection: connection, logger: logger, serverID: serverID, signer: signer,
                                                           clock: startClock, wallClock: wallClock, head: UInt64(bitPattern: head),
                                                           submitter: submitter)
                let result = try await body(&transaction)
                if transaction.head != UInt64(bitPattern: head) {
                    try await connection.query("UPDATE synclayer_head SET seq = \(Int64(bitPattern: transaction.head)) WHERE id = 1", logger: logger)
                    // The doorbell for other instances; the table stays the truth.
                    try await connection.query("SELECT pg_notify('synclayer_commits', \(String(transaction.head)))", logger: logger)
                }
                return (result, transaction.written, transaction.clock)
            }
        }
        clock = endClock
        held.withLock { vector in
            for (origin, seq) in written.vector { vector[origin] = max(vector[origin], seq) }
        }
        if let first = written.committed.first?.serverSeq, let last = written.committed.last?.serverSeq {
            if first == published + 1 {
                // Nothing of another instance came between: publish as committed.
                notifier.publish(StoreCommit(collections: written.collections, changes: written.committed))
                published = last
            } else {
                // Other instances committed since this one last published: read those from the table
                // first, in order, then these (with their submitter, for the acknowledgements).
                let local = Dictionary(written.committed.map { ($0.serverSeq ?? 0, $0) }) { first, _ in first }
                do {
                    try await catchUp(local: local)
                } catch {
                    // Committed, but not published here yet: the next catch-up (a notification, or the
                    // periodic read) publishes it from the table, without its submitter's tag (the
                    // client resends and is answered as a duplicate).
                    logger.warning("could not read other instances' commits; retrying", metadata: ["synclayer.error": "\(error)"])
                }
            }
        }
        return result
    }

    /// Publishes, in order, every commit in the table above what this instance published (other
    /// instances' commits, heard of by LISTEN or the periodic read); `local` holds this instance's
    /// own, as committed.
    func catchUp(local: [UInt64: CommittedChange] = [:]) async throws {
        guard !closed else { return }
        let parser = JSONParser()
        while true {
            var changes: [CommittedChange] = []
            var collections: Set<String> = []
            let rows = try await client.query("""
                SELECT server_seq, origin, seq, hlc, collection, record_id, kind, fields, sig FROM changes
                WHERE server_seq > \(Int64(bitPattern: published)) ORDER BY server_seq LIMIT 1000
                """, logger: logger)
            for try await (serverSeq, origin, seq, hlc, collection, recordID, kind, fields, sig)
                in rows.decode((Int64, String, Int64, Int64, String, String, Int16, String, String?).self) {
                let number = UInt64(bitPattern: serverSeq)
                collections.insert(collection)
                if let own = local[number] {
                    changes.append(own)
                    continue
                }
                guard let origin = NodeID(origin), let kind = ChangeKindCode.kind(Int64(kind)) else {
                    throw StoreError(.corrupted, "unreadable row in the server's change log")
                }
                let change = Change(id: ChangeID(origin: origin, seq: UInt64(bitPattern: seq)), hlc: HLCTimestamp(rawValue: UInt64(bitPattern: hlc)),
                                    collection: collection, recordID: recordID, kind: kind, fields: try parser.parseObject(Array(fields.utf8)),
                                    signature: sig.map { ChangeSignature(wireText: $0) })
                changes.append(CommittedChange(change: change, serverSeq: number, isLocal: false, visibleChange: true, submitter: 0))
            }
            guard let last = changes.last?.serverSeq else { return }
            // Dense by the head's lock: anything else is a corrupted table, not a race.
            guard changes.first?.serverSeq == published + 1, last == published + UInt64(changes.count) else {
                throw StoreError(.corrupted, "a hole in the server's change log above \(published)")
            }
            notifier.publish(StoreCommit(collections: collections, changes: changes))
            published = last
            if changes.count < 1000 { return }
        }
    }
}

/// One write transaction of a ``PostgresWriter``, holding the head's lock: the server-side commit
/// of ``SQLiteServerStorage`` (`WriteContext+ServerCommit.swift`), statement by statement.
struct PostgresWriteTransaction {
    let connection: PostgresConnection
    let logger: Logger
    let serverID: NodeID
    let signer: ChangeSigner
    var clock: HybridLogicalClock
    let wallClock: any WallClock
    /// The highest server sequence given so far.
    var head: UInt64
    let submitter: UInt64
    var written = PostgresWrittenChanges()

    /// Commits one change: once per change id, merged, given the next server sequence.
    mutating func commit(_ change: Change) async throws -> CommitOutcome {
        let now = wallClock.nowMillis()
        let serverSeq = head + 1
        let fields = JSONValue.object(change.fields).canonicalString
        let inserted = try await connection.query("""
            INSERT INTO changes(server_seq, origin, seq, hlc, collection, record_id, kind, fields, received_at, sig)
            VALUES (\(Int64(bitPattern: serverSeq)), \(change.id.origin.rawValue), \(Int64(bitPattern: change.id.seq)),
                    \(Int64(bitPattern: change.hlc.rawValue)), \(change.collection), \(change.recordID),
                    \(Int16(ChangeKindCode.code(change.kind))), \(fields), \(Int64(bitPattern: now)), \(change.signature?.wireText))
            ON CONFLICT (origin, seq) DO NOTHING RETURNING server_seq
            """, logger: logger)
        var isNew = false
        for try await _ in inserted { isNew = true }
        guard isNew else {
            var existing: Int64 = 0
            for try await seq in try await connection.query("""
                SELECT server_seq FROM changes WHERE origin = \(change.id.origin.rawValue) AND seq = \(Int64(bitPattern: change.id.seq))
                """, logger: logger).decode(Int64.self) {
                existing = seq
            }
            return .committed(serverSeq: UInt64(bitPattern: existing), duplicate: true)
        }
        head = serverSeq
        _ = clock.observe(change.hlc, physicalMillis: now)
        var document = try await loadState(collection: change.collection, id: change.recordID) ?? DocumentState()
        let before = (document.exists, document.body)
        var visibleChange = false
        if document.apply(change) {
            visibleChange = before.0 != document.exists || (document.exists && before.1 != document.body)
        }
        var body: [UInt8] = []
        JSONValue.appendCanonical(object: document.body, to: &body)
        try await connection.query("""
            INSERT INTO documents(collection, id, body, clocks, visible, updated_seq, updated_at)
            VALUES (\(change.collection), \(change.recordID), \(String(decoding: body, as: UTF8.self)), \(document.clocksJSON),
                    \(document.exists), \(Int64(bitPattern: serverSeq)), \(Int64(bitPattern: now)))
            ON CONFLICT (collection, id) DO UPDATE SET body = excluded.body, clocks = excluded.clocks, visible = excluded.visible,
                updated_seq = excluded.updated_seq, updated_at = excluded.updated_at
            """, logger: logger)
        try await advanceVector(origin: change.id.origin, seq: change.id.seq, hlc: change.hlc)
        written.collections.insert(change.collection)
        written.committed.append(CommittedChange(change: change, serverSeq: serverSeq, isLocal: false, visibleChange: visibleChange,
                                                 submitter: submitter))
        return .committed(serverSeq: serverSeq, duplicate: false)
    }

    /// Stamps a write of the original protocol as a change of the server's own, then commits it.
    mutating func commitLegacy(_ write: LegacyWrite) async throws -> SequencedChange {
        var hlc = clock.now(physicalMillis: wallClock.nowMillis())
        if let latest = try await loadState(collection: write.collection, id: write.recordID)?.maxStamp, latest.hlc >= hlc {
            hlc = latest.hlc.successor
        }
        // The server's own origin: numbered under the head's lock, so instances never give one twice.
        let seq = try await contiguous(of: serverID) + 1
        let change = signer.signingOwn(Change(id: ChangeID(origin: serverID, seq: seq), hlc: hlc, collection: write.collection,
                                              recordID: write.recordID, kind: write.kind, fields: write.fields))
        guard case .committed(let serverSeq, false) = try await commit(change) else {
            throw StoreError(.corrupted, "the server's own change was refused")
        }
        return SequencedChange(change: change, serverSeq: serverSeq)
    }

    private func loadState(collection: String, id: String) async throws -> DocumentState? {
        var state: DocumentState?
        for try await (body, clocks) in try await connection.query("""
            SELECT body, clocks FROM documents WHERE collection = \(collection) AND id = \(id)
            """, logger: logger).decode((String, String).self) {
            state = try DocumentState(body: try JSONParser().parseObject(Array(body.utf8)), clocksJSON: clocks)
        }
        return state
    }

    private func contiguous(of origin: NodeID) async throws -> UInt64 {
        var contiguous: UInt64 = 0
        for try await seq in try await connection.query("SELECT contiguous FROM origins WHERE origin = \(origin.rawValue)", logger: logger)
            .decode(Int64.self) {
            contiguous = UInt64(bitPattern: seq)
        }
        return contiguous
    }

    /// Moves the origin's contiguous sequence past `seq` and any run of changes already held above it.
    private mutating func advanceVector(origin: NodeID, seq: UInt64, hlc: HLCTimestamp) async throws {
        var contiguous = try await contiguous(of: origin)
        if seq == contiguous + 1 {
            contiguous = seq
            // Every row is read (a row sequence left half-read would hold the connection).
            var run = true
            for try await next in try await connection.query("""
                SELECT seq FROM changes WHERE origin = \(origin.rawValue) AND seq > \(Int64(bitPattern: contiguous)) ORDER BY seq
                """, logger: logger).decode(Int64.self) {
                if run, UInt64(bitPattern: next) == contiguous + 1 { contiguous += 1 } else { run = false }
            }
            written.vector[origin] = contiguous
        }
        try await connection.query("""
            INSERT INTO origins(origin, contiguous, max_hlc) VALUES (\(origin.rawValue), \(Int64(bitPattern: contiguous)), \(Int64(bitPattern: hlc.rawValue)))
            ON CONFLICT (origin) DO UPDATE SET contiguous = excluded.contiguous, max_hlc = greatest(origins.max_hlc, excluded.max_hlc)
            """, logger: logger)
    }
}

/// What a transaction wrote, for the observers once it committed.
struct PostgresWrittenChanges: Sendable {
    var committed: [CommittedChange] = []
    var collections: Set<String> = []
    var vector: [NodeID: UInt64] = [:]
}
#endif
