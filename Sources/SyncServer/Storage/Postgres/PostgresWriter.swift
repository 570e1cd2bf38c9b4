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
         head: UInt64, wallClock: any WallClock, notifier: CommitNotifier, documentCacheBytes: Int,
         groupLimit: Int = PostgresServerStorage.groupLimit, logger: Logger) {
        self.groupLimit = groupLimit
        self.published = head
        self.documentCache = PostgresDocumentCache(limit: documentCacheBytes)
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

    /// How long a write transaction may take, waiting for the head's lock included (the database
    /// gives up on that lock after `lock_timeout`, 10 s).
    static let transactionLimit: Duration = .seconds(30)
    /// How long a read of other instances' commits may take.
    static let readLimit: Duration = .seconds(10)

    /// Commits `changes` sent by connection `submitter`, in one transaction with the other
    /// connections' changes that wait for it (group commit): a transaction costs a handful of round
    /// trips and a WAL flush under the head's lock, whatever its size, so the changes that arrive
    /// while one commits are committed together by the next, up to ``groupLimit``. The next takes
    /// them once it holds the head's lock, so what arrived while it waited for another instance's
    /// transaction is in it too, unless it was prepared while the one before it wrote
    /// (``runGroup(after:)``): then it takes them when it starts.
    /// `fields` holds each change's fields as canonical JSON, in the order of `changes`.
    func commit(_ changes: [Change], fields: [String], submitter: UInt64) async throws -> [(ChangeID, CommitOutcome)] {
        guard !changes.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            waiting.append(WaitingCommit(changes: changes, fields: fields, submitter: submitter, continuation: continuation))
            startGroups()
        }
    }

    /// Most changes in one group commit (a single request may exceed it: it is never split):
    /// ``PostgresServerStorage/groupLimit`` unless the store was opened with another.
    let groupLimit: Int

    struct WaitingCommit {
        let changes: [Change]
        let fields: [String]
        let submitter: UInt64
        let continuation: CheckedContinuation<[(ChangeID, CommitOutcome)], any Error>
    }

    /// Commits waiting for a transaction; the next takes them in arrival order.
    private var waiting: [WaitingCommit] = []
    /// Group transactions running (``runGroup(after:)``): at most two, one that holds the head's lock
    /// (or waits for it, or publishes what it committed) and one prepared on it.
    private var runningGroups = 0
    /// What the running transaction that holds the lock leaves if it commits, once it has prepared
    /// its write and while no transaction is prepared on it yet.
    private var staged: PostgresSpeculation?
    /// Transactions another was prepared on, and the answer of their `COMMIT` (`true`: committed),
    /// or who waits for it.
    private var answers: [UInt64: Bool] = [:], awaitingAnswer: [UInt64: CheckedContinuation<Bool, Never>] = [:]
    private var preparedOn: Set<UInt64> = []
    /// The head the last group transaction to prepare its write leaves if it commits, and whether
    /// the group transaction after it found the head there: nothing came between this instance's
    /// transactions, so one prepared ahead would have been used. While others commit between them,
    /// none is prepared ahead (it would be work for nothing on cores the lock holder needs).
    private var lastLeft: UInt64?
    private var alone = true

    /// Transactions that committed what they had prepared before holding the lock, and those that
    /// read and merged again under the lock because the head was not where the one before left it
    /// (another instance's commit came between, or the one before did not commit).
    nonisolated let preparedCommits = Atomic<Int>(0)
    nonisolated let preparationsDropped = Atomic<Int>(0)
    /// Tests only: runs when a prepared transaction is about to ask for the head's lock.
    var beforePreparedLock: (@Sendable () async -> Void)?

    func setBeforePreparedLock(_ hook: (@Sendable () async -> Void)?) {
        beforePreparedLock = hook
    }

    /// How many changes wait for the next transaction.
    var waitingChanges: Int { waiting.reduce(0) { $0 + $1.changes.count } }

    /// Whether the database refused a statement for its content: SQLSTATE class 22 (data
    /// exception), 23 (integrity constraint) or 54 (program limit, such as an index row too large).
    static func refusedForItsContent(_ error: PSQLError) -> Bool {
        guard error.code == .server, let state = error.serverInfo?[.sqlState] else { return false }
        return ["22", "23", "54"].contains(state.prefix(2))
    }

    /// Starts a group transaction for what waits: one when none runs, or a second, prepared on the
    /// first, once the first has prepared its write and while it writes and commits (while this
    /// instance's transactions follow each other with no other commit between: ``alone``).
    private func startGroups() {
        guard !waiting.isEmpty else { return }
        if runningGroups == 0 {
            runningGroups = 1
            Task { await self.runGroup(after: nil) }
        } else if runningGroups == 1, alone, let base = staged {
            staged = nil
            preparedOn.insert(base.token)
            runningGroups = 2
            Task { await self.runGroup(after: base) }
        }
    }

    /// A group transaction has prepared its write, holding the head's lock: the next may prepare on it.
    private func stage(_ speculation: PostgresSpeculation) {
        staged = speculation
        lastLeft = speculation.head
        startGroups()
    }

    /// A group transaction holds the head's lock, which is at `head`.
    private func locked(at head: UInt64) {
        if let lastLeft { alone = head == lastLeft }
    }

    /// A transaction's `COMMIT` answered (or it failed before): tells a transaction prepared on it.
    private func answered(_ token: UInt64, committed: Bool) {
        if staged?.token == token { staged = nil }
        if preparedOn.remove(token) != nil {
            if let waiter = awaitingAnswer.removeValue(forKey: token) { waiter.resume(returning: committed) } else { answers[token] = committed }
        }
    }

    /// Whether the transaction `token` committed, once its `COMMIT` answered.
    private func answer(of token: UInt64) async -> Bool {
        if let known = answers.removeValue(forKey: token) { return known }
        return await withCheckedContinuation { awaitingAnswer[token] = $0 }
    }

    private func forgetAnswer(of token: UInt64) {
        preparedOn.remove(token)
        answers[token] = nil
    }

    /// What waits, in arrival order, up to ``groupLimit`` changes (at least one request).
    private func takeGroup() -> [WaitingCommit] {
        var count = 0
        let taken = waiting.prefix { request in
            defer { count += request.changes.count }
            return count == 0 || count + request.changes.count <= groupLimit
        }
        waiting.removeFirst(taken.count)
        return Array(taken)
    }

    /// One group transaction; each request is answered with its own changes' outcomes.
    ///
    /// Without `base` it takes what waits once it holds the head's lock, then reads what the group
    /// depends on, merges and writes, as ``commitGroup(_:)`` does. With `base`, the transaction that
    /// holds the lock has prepared its write and `base` is what it leaves: this one takes what waits
    /// at once and reads, merges and encodes it before the lock (``PostgresWriteTransaction/prepare(_:fields:submitters:after:)``),
    /// while the one before writes and commits, so that under the lock only the write statement and
    /// `COMMIT` remain. That preparation is what the table holds only if the one before committed and
    /// no other transaction came between: once holding the lock, it checks that the head is where
    /// `base` leaves it and that `base`'s `COMMIT` answered that it committed. Otherwise (another
    /// instance's commit, a failed one before) it is dropped, and the group is read and merged again
    /// under the lock, as without `base`.
    private func runGroup(after base: PostgresSpeculation?) async {
        var group = base == nil ? [] : takeGroup()
        defer {
            // The answer of `base`'s `COMMIT` is asked for at most once, and not at all if this ends first.
            if let base { forgetAnswer(of: base.token) }
            // Only now, with this group answered or failed, may a group start that takes what waits.
            runningGroups -= 1
            startGroups()
        }
        do {
            let outcomes = try await transaction(submitter: 0) { connection, token in
                var prepared: (PostgresWriteTransaction, PostgresPreparedBatch)?
                if let base {
                    var transaction = self.makeTransaction(connection, head: base.head, clock: base.clock, submitter: 0)
                    let batch = try await transaction.prepare(group.flatMap(\.changes), fields: group.flatMap(\.fields),
                                                              submitters: Self.submitters(of: group), after: base)
                    transaction.cached = [:]  // let go of the cache, which changes when the one before commits
                    prepared = (transaction, batch)
                    await self.beforePreparedLock?()
                }
                let head = try await self.lockHead(connection)
                self.locked(at: head)
                if let base, let (prepared, batch) = prepared {
                    if await self.answer(of: base.token), head == base.head {
                        self.preparedCommits.add(1, ordering: .relaxed)
                        self.stage(prepared.speculation(token: token))
                        try await prepared.execute(batch)
                        return (batch.outcomes, prepared.written, prepared.clock)
                    }
                    self.preparationsDropped.add(1, ordering: .relaxed)
                } else {
                    group = self.takeGroup()
                }
                // Made now, after the answer: the cache and the clock then hold what the one before wrote.
                var transaction = self.makeTransaction(connection, head: head, clock: self.clock, submitter: 0)
                let batch = try await transaction.prepare(group.flatMap(\.changes), fields: group.flatMap(\.fields),
                                                          submitters: Self.submitters(of: group))
                self.stage(transaction.speculation(token: token))
                try await transaction.execute(batch)
                return (batch.outcomes, transaction.written, transaction.clock)
            }
            reply(to: group, with: outcomes)
        } catch let error as PSQLError where group.count > 1 && Self.refusedForItsContent(error) {
            for request in group { await commitGroup([request]) }
        } catch {
            if group.isEmpty { group = takeGroup() }
            for request in group { request.continuation.resume(throwing: error) }
        }
    }

    /// One transaction for the requests of `fixed` alone (no other joins it), each answered with
    /// its own changes' outcomes: the retry of a group the database refused for its content. If
    /// the database refuses this one too, its requests are committed one by one; any other failure
    /// fails them all. When the database refuses a statement of a group of several for what it was
    /// given (``refusedForItsContent(_:)``), each request is committed alone, so that one
    /// connection's change the database cannot take fails only that connection's commit. Any other
    /// failure (a lock or statement timeout, an ended session: nothing a retry one by one would
    /// mend, and each retry would wait again) fails every request of the group.
    private func commitGroup(_ fixed: [WaitingCommit]) async {
        do {
            let outcomes = try await transaction(submitter: 0) { connection, _ in
                var transaction = try await self.lockedTransaction(connection, submitter: 0)
                let outcomes = try await transaction.commit(fixed.flatMap(\.changes), fields: fixed.flatMap(\.fields),
                                                            submitters: Self.submitters(of: fixed))
                return (outcomes, transaction.written, transaction.clock)
            }
            reply(to: fixed, with: outcomes)
        } catch let error as PSQLError where fixed.count > 1 && Self.refusedForItsContent(error) {
            for request in fixed { await commitGroup([request]) }
        } catch {
            for request in fixed { request.continuation.resume(throwing: error) }
        }
    }

    /// Each change's connection, for its ack.
    private static func submitters(of group: [WaitingCommit]) -> [UInt64] {
        group.flatMap { Array(repeating: $0.submitter, count: $0.changes.count) }
    }

    /// Answers each request of `group` with its own changes' outcomes (`outcomes` in group order).
    private func reply(to group: [WaitingCommit], with outcomes: [CommitOutcome]) {
        var start = 0
        for request in group {
            let end = start + request.changes.count
            request.continuation.resume(returning: Array(zip(request.changes.map(\.id), outcomes[start..<end])))
            start = end
        }
    }

    /// A transaction on `connection` that numbers from `head`.
    private func makeTransaction(_ connection: PostgresConnection, head: UInt64, clock: HybridLogicalClock,
                                 submitter: UInt64) -> PostgresWriteTransaction {
        PostgresWriteTransaction(connection: connection, logger: logger, serverID: serverID, signer: signer, clock: clock,
                                 wallClock: wallClock, head: head, submitter: submitter, cached: documentCache.entries)
    }

    /// Takes the head's lock (`SELECT … FOR UPDATE`): the head, as the last commit of any instance left it.
    private func lockHead(_ connection: PostgresConnection) async throws -> UInt64 {
        var head: Int64 = 0
        for row in try await connection.queryIfOpen("SELECT seq FROM synclayer_head WHERE id = 1 FOR UPDATE", logger: logger) {
            head = try row.decode(Int64.self)
        }
        return UInt64(bitPattern: head)
    }

    /// Takes the head's lock and returns a transaction that numbers from the head.
    private func lockedTransaction(_ connection: PostgresConnection, submitter: UInt64) async throws -> PostgresWriteTransaction {
        let head = try await lockHead(connection)
        return makeTransaction(connection, head: head, clock: clock, submitter: submitter)
    }

    func commitLegacy(_ writes: [LegacyWrite], submitter: UInt64) async throws -> [SequencedChange] {
        try await transaction(submitter: submitter) { connection, _ in
            var transaction = try await self.lockedTransaction(connection, submitter: submitter)
            var sequenced: [SequencedChange] = []
            for write in writes { sequenced.append(try await transaction.commitLegacy(write)) }
            return (sequenced, transaction.written, transaction.clock)
        }
    }

    /// Runs `body` in a transaction on a connection of its own, then publishes what it committed.
    /// `body` takes the head's lock itself (``lockedTransaction(_:submitter:)``) and returns its
    /// result, what it wrote and its clock; it is given the transaction's token.
    ///
    /// The actor is reentrant at every `await`: a catch-up may run while a transaction commits, and
    /// two catch-ups may read at once, and two transactions may run (one prepared on the other). So
    /// what a commit wrote is recorded (``ownUnpublished``) before `COMMIT`, and every publication
    /// checks ``published`` again after its last `await`: each commit of any instance is published
    /// once, in order, and this instance's own with their submitter, whoever publishes them.
    private func transaction<Result: Sendable>(
        submitter: UInt64,
        _ body: (PostgresConnection, UInt64) async throws -> (Result, PostgresWrittenChanges, HybridLogicalClock)
    ) async throws -> Result {
        nextToken += 1
        let token = nextToken
        guard !closed else {
            answered(token, committed: false)
            throw StoreError(.closed, "the server's store is closed")
        }
        let outcome: (Result, PostgresWrittenChanges, HybridLogicalClock)
        let started = ContinuousClock.now
        do {
            outcome = try await client.withConnection { connection in
                try await withWatchdog(connection, limit: Self.transactionLimit) {
                try await withOpenTransaction(connection, logger: logger) {
                    let outcome = try await body(connection, token)
                    // The statement that wrote the numbered changes also moved the head and rang the
                    // other instances' doorbell (the table stays the truth).
                    await self.recordOwn(outcome.1.committed, token: token)
                    return outcome
                }
                }
            }
        } catch {
            // Not committed, or not known to be: these numbers may be given again by the next commit.
            // If it did commit, a catch-up publishes it from the table, untagged (the client gets no
            // ack, sends again, and is answered as a duplicate).
            ownUnpublished = ownUnpublished.filter { $0.value.token != token }
            answered(token, committed: false)
            // A read that stopped below these numbers left what was heard of above them to this
            // transaction: read it now, whatever became of these.
            if heard > published { Task { try? await self.catchUp() } }
            throw error
        }
        let (result, written, endClock) = outcome
        notifier.committed(in: ContinuousClock.now - started)
        documentCache.committed(written.documents)
        documentsRead.add(written.documentsRead, ordering: .relaxed)
        for (number, own) in ownUnpublished where own.token == token { ownUnpublished[number]?.committed = true }
        if endClock.last > clock.last { clock = endClock }
        held.withLock { vector in
            for (origin, seq) in written.vector { vector[origin] = max(vector[origin], seq) }
        }
        answered(token, committed: true)
        publishOwnRun()
        if ownUnpublished.values.contains(where: { $0.token == token }) || heard > published {
            // Other instances committed since this one last published: read those from the table
            // first, in order, then these. Or they committed after these, and a read heard of them
            // while this `COMMIT` had not returned (it stopped below these numbers).
            do {
                try await catchUp()
            } catch {
                logger.warning("could not read other instances' commits; retrying", metadata: ["synclayer.error": "\(error)"])
            }
        }
        return result
    }

    /// This instance's commits, recorded just before `COMMIT` (`committed` once it returned), until
    /// published: a catch-up that finds one in the table publishes it with its submitter.
    private var ownUnpublished: [UInt64: (token: UInt64, change: CommittedChange, committed: Bool)] = [:]
    private var nextToken: UInt64 = 0
    /// The highest head a notification named, or a read found.
    private var heard: UInt64 = 0
    /// Reads of the change table a notification started, and the rows of changes read by any.
    nonisolated let readsOnNotice = Atomic<Int>(0)
    nonisolated let rowsRead = Atomic<Int>(0)
    /// Documents committed transactions read from the database (``PostgresDocumentCache``).
    nonisolated let documentsRead = Atomic<Int>(0)

    /// The documents this instance's commits wrote, for the next to read from memory when their
    /// rows still say so.
    private var documentCache: PostgresDocumentCache

    private func recordOwn(_ committed: [CommittedChange], token: UInt64) async {
        for change in committed { ownUnpublished[change.serverSeq ?? 0] = (token, change, false) }
    }

    /// Publishes this instance's own commits that come next after ``published``, if any (only
    /// those whose `COMMIT` returned: one still committing may yet fail).
    private func publishOwnRun() {
        var changes: [CommittedChange] = []
        while let own = ownUnpublished[published + 1], own.committed {
            ownUnpublished[published + 1] = nil
            changes.append(own.change)
            published += 1
        }
        if !changes.isEmpty { notifier.publish(StoreCommit(collections: Set(changes.map(\.change.collection)), changes: changes)) }
    }

    /// Which collections the observers want whole (``PostgresServerStorage/setInterest(_:)``);
    /// `nil`: all.
    nonisolated let interest = Mutex<(@Sendable () -> Set<String>)?>(nil)

    /// Publishes, in order, every commit in the table above what this instance published (other
    /// instances' commits, heard of by LISTEN or the periodic read, and its own, with their tags).
    ///
    /// Only rows of collections some observer wants (``interest``, asked before each read) are read:
    /// every instance hears every other's commits, and most are in collections none of its own
    /// connections subscribes to. This instance's own numbers are never read. Those whose `COMMIT`
    /// returned are its changes, published from memory in order among the rows. The read stops
    /// below the lowest whose `COMMIT` has not returned: after a rollback another instance may hold
    /// that number, and whether it does is known when the `COMMIT` answers; the transaction then
    /// publishes it, and reads what was heard of above it (``heard``). So a notification of this
    /// instance's own commit, which often comes before the answer to its `COMMIT`, costs no read.
    /// The read is bounded by the head in the same snapshot, and each publication says how far it
    /// goes (`through`) and which collections it holds every change of (`complete`). A node that
    /// subscribed to another collection while such a read was under way, live below its end, may
    /// have missed a change: the hub then drops its connection (it catches up from its cursor when
    /// it reconnects; `Delivery.publishing`).
    ///
    /// After a notification (`notice`), nothing is read when every commit up to its head is
    /// published, nor when it gave the numbers right above ``published`` in collections no
    /// observer wants: the publication then holds no change and goes through its head.
    func catchUp(after notice: PostgresCommitNotice? = nil) async throws {
        guard !closed else { return }
        if let notice {
            heard = max(heard, notice.head)
            if notice.head <= published { return }
        }
        let parser = JSONParser()
        while true {
            let after = published, logger = self.logger
            // This instance's numbers above: those whose `COMMIT` returned (not read), and the lowest
            // whose `COMMIT` has not (the read stops below it).
            var pending: UInt64?, known: [Int64] = []
            for (number, own) in ownUnpublished where number > after {
                if own.committed { known.append(Int64(bitPattern: number)) } else { pending = min(pending ?? number, number) }
            }
            if pending == after + 1 { return }
            let wanted = interest.withLock { $0 }?()
            // A notice of the numbers right above: not this instance's (its own would be pending,
            // or published once its `COMMIT` returned), so published through its head as it says.
            if let notice, notice.from == after, let wanted, notice.collections.isDisjoint(with: wanted) {
                published = notice.head
                notifier.publish(StoreCommit(collections: [], changes: [], through: notice.head, complete: wanted))
                publishOwnRun()
                return
            }
            let limit = pending.map { $0 - 1 } ?? UInt64(Int64.max)
            let (head, rows) = try await client.withConnection { connection in
                try await withWatchdog(connection, limit: Self.readLimit) {
                    var rows: [CommittedChange] = []
                    var head: Int64 = 0
                    // One statement, so one snapshot: every number up to the head it reads is in it.
                    let result = try await connection.queryIfOpen("""
                        SELECT h.seq, c.server_seq, c.origin, c.seq, c.hlc, c.collection, c.record_id, c.kind, c.fields, c.sig
                        FROM synclayer_head h LEFT JOIN LATERAL (
                            SELECT * FROM changes
                            WHERE server_seq > \(Int64(bitPattern: after)) AND server_seq <= least(h.seq, \(Int64(bitPattern: limit)))
                              AND (\(wanted == nil) OR collection = ANY(\(Array(wanted ?? []))::text[]))
                              AND server_seq <> ALL(\(known)::bigint[])
                            ORDER BY server_seq LIMIT 1000) c ON true
                        WHERE h.id = 1
                        """, logger: logger)
                    for columns in result {
                        let (rowHead, serverSeq, origin, seq, hlc, collection, recordID, kind, fields, sig)
                            = try columns.decode((Int64, Int64?, String?, Int64?, Int64?, String?, String?, Int16?, String?, String?).self)
                        head = rowHead
                        guard let serverSeq, let origin, let seq, let hlc, let collection, let recordID, let kind, let fields else { continue }
                        let row = try PostgresChangeRow((serverSeq, origin, seq, hlc, collection, recordID, kind, fields, sig))
                        rows.append(CommittedChange(change: try row.change(parser), serverSeq: row.serverSeq, isLocal: false,
                                                    visibleChange: true, submitter: 0))
                    }
                    return (UInt64(bitPattern: head), rows)
                }
            }
            if notice != nil { readsOnNotice.add(1, ordering: .relaxed) }
            rowsRead.add(rows.count, ordering: .relaxed)
            heard = max(heard, head)
            // No `await` from here to the publication: `published` may have moved while reading
            // (another catch-up, a commit of this instance), so what it covers is skipped. A number
            // of this instance's whose `COMMIT` has not returned (recorded while the statement was on
            // its way): the publication stops below it, as the read did below the others.
            let top = min(head, limit)
            let read = rows.count == 1000 ? (rows.last?.serverSeq ?? top) : top
            let through = ownUnpublished.filter { $0.key > after && $0.key <= read && !$0.value.committed }
                .keys.min().map { $0 - 1 } ?? read
            if through > published {
                var changes: [CommittedChange] = []
                for row in rows {
                    guard let number = row.serverSeq, number > published, number <= through else { continue }
                    if let own = ownUnpublished.removeValue(forKey: number), own.change.change.id == row.change.id {
                        changes.append(own.change)
                    } else {
                        changes.append(row)
                    }
                }
                // This instance's numbers whose `COMMIT` returned and that the read left out: in
                // order among the rows.
                let unread = ownUnpublished.filter { $0.key > published && $0.key <= through && $0.value.committed }
                if !unread.isEmpty {
                    changes += unread.values.map(\.change)
                    changes.sort { ($0.serverSeq ?? 0) < ($1.serverSeq ?? 0) }
                }
                // Every number up to `through` of this instance's is published, from a row (a number
                // that became visible while the statement was on its way) or from memory.
                ownUnpublished = ownUnpublished.filter { $0.key > through }
                published = through
                // Also when empty: the head moves on, and a reader that wants what was skipped learns
                // that it missed it (`Delivery.publishing`).
                notifier.publish(StoreCommit(collections: Set(changes.map(\.change.collection)), changes: changes,
                                             through: through, complete: wanted))
            }
            publishOwnRun()
            if rows.count < 1000 && through == read { return }
        }
    }
}

/// Runs `body` with `connection`, and closes the connection if `body` has not finished within
/// `limit`. A query sent on a connection whose peer vanished silently (an instance cut off from the
/// database) otherwise waits until TCP gives up, minutes later, and postgres-nio does not end a
/// query on cancellation; closing the connection fails the query at once, and the pool replaces it.
@discardableResult
func withWatchdog<T>(_ connection: PostgresConnection, limit: Duration, isolation: isolated (any Actor)? = #isolation,
                     _ body: () async throws -> T) async throws -> T {
    let watchdog = Task {
        try await Task.sleep(for: limit)
        try? await connection.close()
    }
    defer { watchdog.cancel() }
    return try await body()
}

/// `BEGIN`, `body`, then `COMMIT` on `connection`, or `ROLLBACK` if `body` throws, each sent with
/// `queryIfOpen(_:logger:)` (postgres-nio's `withTransaction` sends its `COMMIT` and `ROLLBACK`
/// with `query`, which may never answer on a closed connection).
/// A `COMMIT` that throws leaves the outcome unknown: the caller acknowledges nothing.
func withOpenTransaction<T>(_ connection: PostgresConnection, logger: Logger, isolation: isolated (any Actor)? = #isolation,
                            _ body: () async throws -> T) async throws -> T {
    try await connection.queryIfOpen("BEGIN", logger: logger)
    let value: T
    do {
        value = try await body()
    } catch {
        // A connection that ended fails this at once; the database rolls back a session it ends.
        _ = try? await connection.queryIfOpen("ROLLBACK", logger: logger)
        throw error
    }
    try await connection.queryIfOpen("COMMIT", logger: logger)
    return value
}

extension PostgresConnection {
    /// Runs `query` and reads all its rows; throws, instead of waiting forever, when the connection
    /// has closed.
    ///
    /// postgres-nio's `query` writes the query to the channel without a promise for the write. Once
    /// the channel has closed (the database ended the session: `pg_terminate_backend`, a restart,
    /// `idle_in_transaction_session_timeout`), its handlers are gone and such a write is dropped:
    /// the query's own promise is never completed, and `close()` (a no-op on a closed connection)
    /// does not complete it either. Seen for the first statement sent after the session was ended
    /// while idle in a transaction, and for `withTransaction`'s `ROLLBACK` after a statement the
    /// ended session failed (FATAL 57P01); a pooled connection that closes just after it is leased
    /// can do the same to its first query. On the connection's event loop the check and the write
    /// are one step: a channel that is still open there has its handler, which answers the query or
    /// fails it when the connection closes (postgres-nio's EventLoopFuture `query`, which writes
    /// synchronously when called on the loop).
    @discardableResult
    func queryIfOpen(_ query: PostgresQuery, logger: Logger) async throws -> PostgresQueryResult {
        try await eventLoop.flatSubmit {
            guard !self.isClosed else {
                return self.eventLoop.makeFailedFuture(PostgresStorageError("the connection to PostgreSQL has closed"))
            }
            return self.query(query, logger: logger)
        }.get()
    }
}

/// One write transaction of a ``PostgresWriter``, holding the head's lock: the server-side commit
/// of ``SQLiteServerStorage`` (`WriteContext+ServerCommit.swift`), a batch at a time
/// (`PostgresWriteTransaction+Batch.swift`).
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
    /// The documents this instance's commits wrote (``PostgresDocumentCache``): a batch reads only
    /// those whose row no longer says what the entry says of it, and the others. A later batch of
    /// the same transaction (the original protocol's writes of one request) merges into what the
    /// batches before wrote (``PostgresWrittenChanges/documents``) first.
    var cached: [PostgresDocumentKey: PostgresDocumentCache.Entry]
    var written = PostgresWrittenChanges()

    /// Stamps a write of the original protocol as a change of the server's own, then commits it.
    mutating func commitLegacy(_ write: LegacyWrite) async throws -> SequencedChange {
        var hlc = clock.now(physicalMillis: wallClock.nowMillis())
        let key = PostgresDocumentKey(collection: write.collection, id: write.recordID)
        if let latest = try await loadStates(of: [key])[key]?.maxStamp, latest.hlc >= hlc {
            hlc = latest.hlc.successor
        }
        // The server's own origin: numbered under the head's lock, so instances never give one twice.
        let seq = try await contiguous(of: serverID) + 1
        // Stored unsigned, signed as it leaves the server for a node (`ServerSigning`).
        let change = Change(id: ChangeID(origin: serverID, seq: seq), hlc: hlc, collection: write.collection,
                            recordID: write.recordID, kind: write.kind, fields: write.fields)
        guard case .committed(let serverSeq, false)? = try await commit([change]).first else {
            throw StoreError(.corrupted, "the server's own change was refused")
        }
        return SequencedChange(change: change, serverSeq: serverSeq)
    }

    private func contiguous(of origin: NodeID) async throws -> UInt64 {
        var contiguous: UInt64 = 0
        for row in try await connection.queryIfOpen("SELECT contiguous FROM origins WHERE origin = \(origin.rawValue)", logger: logger) {
            contiguous = UInt64(bitPattern: try row.decode(Int64.self))
        }
        return contiguous
    }
}

/// What a transaction wrote, for the observers once it committed.
struct PostgresWrittenChanges: Sendable {
    var committed: [CommittedChange] = []
    var collections: Set<String> = []
    var vector: [NodeID: UInt64] = [:]
    /// The documents written, as written.
    var documents: [PostgresDocumentKey: PostgresDocumentCache.Entry] = [:]
    /// How many documents were read from the database (the others were new, or held in memory).
    var documentsRead = 0
    /// The server sequence of each change id the batches hold (given or found held), and their
    /// origins' watermarks as left: what a transaction prepared on this one builds on.
    var ids: [ChangeID: UInt64] = [:]
    var watermarks: [String: PostgresWatermark] = [:]
}
#endif
