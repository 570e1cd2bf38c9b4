#if PostgreSQL
import Logging
import PostgresNIO
import SyncCore
import SyncStore
import Synchronization

/// The server's store on PostgreSQL: the same rules as ``SQLiteServerStorage`` (``ServerStorage``),
/// the same tables and canonical text, so digests compare byte for byte with a SQLite server's.
///
/// **Ordering.** A server sequence is not taken from a PostgreSQL sequence (numbers taken at insert
/// commit out of order, and a reader paging by cursor would skip a late one for good). Every write
/// transaction locks the one row of `synclayer_head`, numbers its changes from it, moves it and
/// commits; PostgreSQL makes a commit visible before it releases its locks, so the numbers any reader
/// sees are always exactly 1…head, whatever instance wrote them (`Docs/Architecture.md`).
///
/// **Commits** run one at a time per store (``PostgresWriter``), so commit observers hear each
/// commit once, in sequence order, after it is durable.
package final class PostgresServerStorage: ServerStorage {
    package var serverID: NodeID { identity.serverID }
    package let identity: ServerIdentity
    package let limits: ServerStorageLimits
    /// Where the database is, as given (password removed).
    package let location: String
    let client: PostgresClient
    private let clientTask: Task<Void, Never>
    let writer: PostgresWriter
    let notifier: CommitNotifier
    let logger: Logger
    private let headSeq: Atomic<UInt64>
    /// The task hearing other instances' commits.
    private let listener = Locked<Task<Void, Never>?>(nil)
    /// Its connection, while it has one.
    private let listening = Locked<PostgresConnection?>(nil)

    private init(identity: ServerIdentity, limits: ServerStorageLimits, location: String, client: PostgresClient, clientTask: Task<Void, Never>,
                 writer: PostgresWriter, notifier: CommitNotifier, logger: Logger, head: UInt64) {
        self.identity = identity
        self.limits = limits
        self.location = location
        self.client = client
        self.clientTask = clientTask
        self.writer = writer
        self.notifier = notifier
        self.logger = logger
        self.headSeq = Atomic(head)
    }

    /// Bytes of stored JSON an instance keeps of the documents its commits wrote, by default.
    package static let documentCacheBytes = 4 << 20
    /// Most changes in one group commit, by default.
    package static let groupLimit = 2_000

    /// Connects to the database at `url` (``PostgresLocation``), creates or upgrades its tables, and
    /// reads the cluster's identity (made by the first server to open it). `documentCacheBytes`
    /// bounds the documents this instance's commits wrote that it keeps in memory for the next
    /// (``PostgresDocumentCache``; 0: none kept, every document read). `groupLimit` bounds the
    /// changes of one group commit (tests make small groups with it).
    ///
    /// - Throws: ``PostgresStorageError`` when the database cannot be reached or its schema is newer
    ///   than this server knows.
    package static func open(url: String, wallClock: any WallClock = SystemWallClock(), limits: ServerStorageLimits = ServerStorageLimits(),
                            documentCacheBytes: Int = PostgresServerStorage.documentCacheBytes,
                            groupLimit: Int = PostgresServerStorage.groupLimit,
                            logger: Logger = Logger(label: "synclayer.server.store")) async throws -> PostgresServerStorage {
        let location = try PostgresLocation(url)
        // The pool's own reports (each failed connection attempt) only as warnings.
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .warning)
        let client = PostgresClient(configuration: location.configuration, backgroundLogger: poolLogger)
        // Detached: a task would inherit the caller's graceful-shutdown signal (ServiceLifecycle's task
        // local), and PostgresClient.run() ends at that signal, taking the pool away from commits still
        // in flight while the server drains its connections; the pool ends in close(), after them.
        let clientTask = Task.detached { await client.run() }
        do {
            // The pool retries a database it cannot reach for as long as it is asked to: at start, a
            // clear error after 10 s is better.
            let opened = try await withThrowingTaskGroup(of: PostgresSchema.Opened?.self) { group in
                group.addTask { try await PostgresSchema.open(client, wallClock: wallClock, limits: limits, logger: logger, location: location) }
                group.addTask {
                    try await Task.sleep(for: .seconds(10))
                    return nil
                }
                defer { group.cancelAll() }
                guard let opened = try await group.next() ?? nil else {
                    throw PostgresStorageError("cannot reach PostgreSQL at \(location) within 10 s (is it running, and is the URL right?)")
                }
                return opened
            }
            let notifier = CommitNotifier()
            let writer = PostgresWriter(client: client, serverID: opened.serverID, signer: opened.signer, clock: opened.clock,
                                        held: opened.vector, head: opened.head, wallClock: wallClock, notifier: notifier,
                                        documentCacheBytes: documentCacheBytes, groupLimit: groupLimit, logger: logger)
            let store = PostgresServerStorage(identity: ServerIdentity(serverID: opened.serverID, signer: opened.signer), limits: limits, location: location.description, client: client,
                                              clientTask: clientTask, writer: writer, notifier: notifier, logger: logger, head: opened.head)
            // Registered first, so the head is current before any other observer (the hub) hears of a commit.
            _ = notifier.observe { [store] event in
                if case .committed(let commit) = event, let last = commit.through {
                    store.headSeq.store(last, ordering: .releasing)
                }
            }
            store.startListening(location)
            logger.debug("opened server store", metadata: ["synclayer.store.url": "\(location)", "synclayer.server.id": "\(opened.serverID)"])
            return store
        } catch {
            clientTask.cancel()
            if error is PostgresStorageError { throw error }
            throw PostgresStorageError("cannot use PostgreSQL at \(location): \(String(reflecting: error))")
        }
    }

    /// Hears other instances' commits: LISTEN as the doorbell (each write transaction notifies at
    /// commit), the table as the truth (``PostgresWriter/catchUp(local:)`` reads from this instance's
    /// own position), and a read every second as the safety net (a notification lost while the
    /// listening connection was down).
    private func startListening(_ location: PostgresLocation) {
        let writer = self.writer, logger = self.logger, listening = self.listening
        let task = Task.detached {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        do {
                            let connection = try await PostgresConnection.connect(configuration: location.connectionConfiguration, id: 1,
                                                                                  logger: logger)
                            listening.withLock { $0 = connection }
                            defer { Task { try? await connection.close() } }
                            try await connection.listen(on: "synclayer_commits") { notifications in
                                // Listening now: whatever committed before is in the table.
                                try await writer.catchUp()
                                // Each notification names the head its commit left (and, mostly, the
                                // numbers it gave and their collections): one this instance has
                                // published through, or whose collections none of its connections
                                // wants, needs no read.
                                for try await notification in notifications {
                                    try await writer.catchUp(after: PostgresCommitNotice(payload: notification.payload))
                                }
                            }
                        } catch {
                            if Task.isCancelled { return }
                            logger.debug("the commit listener's connection ended; reconnecting", metadata: ["synclayer.error": "\(error)"])
                        }
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                group.addTask {
                    var tick = 0
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        if Task.isCancelled { return }
                        do { try await writer.catchUp() } catch {
                            logger.debug("the periodic read of commits failed", metadata: ["synclayer.error": "\(error)"])
                        }
                        // A listening connection whose peer vanished silently hears nothing and never
                        // fails: every 5 s it must answer a query within 5 s, or it is closed (and the
                        // loop above connects again).
                        tick += 1
                        if tick % 5 == 0, let connection = listening.withLock({ $0 }) {
                            do {
                                try await withWatchdog(connection, limit: .seconds(5)) {
                                    try await connection.queryIfOpen("SELECT 1", logger: logger)
                                }
                            } catch {
                                logger.debug("the commit listener's connection did not answer", metadata: ["synclayer.error": "\(error)"])
                            }
                        }
                    }
                }
            }
        }
        listener.withLock { $0 = task }
    }

    package func close() async {
        let task = listener.withLock { $0 }
        task?.cancel()
        // Reading notifications ends when the connection does.
        try? await listening.withLock { $0 }?.close()
        // Bounded: a query the database never answers must not keep the server from stopping.
        if let task { _ = try? await boundedAwait(.seconds(5), "the commit listener's end") { await task.value } }
        await writer.close()
        clientTask.cancel()
        let clientTask = self.clientTask
        if (try? await boundedAwait(.seconds(5), "the connection pool's end") { await clientTask.value }) == nil {
            logger.warning("the PostgreSQL connection pool did not close within 5 s; leaving it")
        }
        notifier.close()
    }

    package var head: UInt64 { headSeq.load(ordering: .acquiring) }

    package var heldVector: VersionVector { writer.heldVector }

    /// How often a notification made this instance read the change table, and how many rows of
    /// changes it read in all (its own commits are published from memory).
    package var readBack: (onNotice: Int, rows: Int) {
        (writer.readsOnNotice.load(ordering: .relaxed), writer.rowsRead.load(ordering: .relaxed))
    }

    /// How many documents this instance's committed transactions read from the database to merge
    /// into (those its own last commit wrote are held in memory: ``PostgresDocumentCache``).
    package var documentsRead: Int { writer.documentsRead.load(ordering: .relaxed) }

    /// Group transactions that committed what they had prepared while the one before them wrote,
    /// and those that prepared again under the lock (``PostgresWriter``'s `runGroup(after:)`).
    package var preparedAhead: (committed: Int, dropped: Int) {
        (writer.preparedCommits.load(ordering: .relaxed), writer.preparationsDropped.load(ordering: .relaxed))
    }

    package var counters: [StoreCounter] {
        let prepared = preparedAhead
        let read = readBack
        let preparedHelp = "Group transactions prepared while the one before them wrote: committed as prepared, or prepared again under the lock."
        return [
            StoreCounter("synclayer_store_prepared_transactions_total", ["outcome": "committed"], help: preparedHelp, total: prepared.committed),
            StoreCounter("synclayer_store_prepared_transactions_total", ["outcome": "dropped"], help: preparedHelp, total: prepared.dropped),
            StoreCounter("synclayer_store_notified_reads_total", help: "Reads of the change table that another instance's notification made.",
                         total: read.onNotice),
            StoreCounter("synclayer_store_changes_read_total", help: "Changes other instances committed, read from the change table.",
                         total: read.rows),
            StoreCounter("synclayer_store_documents_read_total",
                         help: "Documents read from the database to merge into (the rest were held in memory).", total: documentsRead),
        ]
    }

    /// Tests only: `hook` runs each time a transaction prepared ahead is about to ask for the head's lock.
    package func beforePreparedLock(_ hook: (@Sendable () async -> Void)?) async {
        await writer.setBeforePreparedLock(hook)
    }

    package func observeCommits(_ handler: @escaping @Sendable (StoreEvent) -> Void) -> UInt64 {
        notifier.observe(handler)
    }

    package func removeObserver(_ token: UInt64) {
        notifier.remove(token)
    }

    /// Sets what hears how long each write transaction took, from its start to its commit (the
    /// store-commit histogram of `/metrics`); `nil` stops it.
    package func timeCommits(_ handler: (@Sendable (Duration) -> Void)?) {
        notifier.timeCommits(handler)
    }

    /// Which collections other instances' commits are read for; the rest are skipped
    /// (`PostgresWriter.catchUp()`).
    package func setInterest(_ collections: (@Sendable () -> Set<String>)?) {
        writer.interest.withLock { $0 = collections }
    }

    /// How many changes wait for the writer's next transaction (group commit).
    package func waitingChanges() async -> Int {
        await writer.waitingChanges
    }

    package func commit(_ changes: [Change], submitter: UInt64) async throws -> [ChangeID: CommitOutcome] {
        let screened = limits.screen(changes, now: writer.wallClock.nowMillis())
        let accepted = screened.accepted
        var outcomes = screened.refused
        guard !accepted.isEmpty else { return outcomes }
        let writer = self.writer
        // Encoded here, before the writer's queue (by the check): what the transaction does holding
        // the head's lock, every instance's writers wait for.
        let fields = screened.fields.map { String(decoding: $0, as: UTF8.self) }
        let committed = try await boundedAwait(Self.operationLimit, "a commit") {
            try await writer.commit(accepted, fields: fields, submitter: submitter)
        }
        for (id, outcome) in committed { outcomes[id] = outcome }
        return outcomes
    }

    package func commitLegacy(_ writes: [LegacyWrite], submitter: UInt64) async throws -> [SequencedChange] {
        for write in writes { try limits.check(write) }
        let writer = self.writer
        return try await boundedAwait(Self.operationLimit, "a commit") { try await writer.commitLegacy(writes, submitter: submitter) }
    }

    /// The longest a commit or a read for a connection may keep its caller waiting (longer than a
    /// write transaction's own limit, ``PostgresWriter/transactionLimit``).
    static let operationLimit: Duration = .seconds(40)

    // MARK: Reads

    package func changes(after cursor: UInt64, through last: UInt64, collections: Set<String>?,
                         skipping vector: VersionVector, limit: Int) async throws -> ChangePage {
        try await boundedAwait(Self.operationLimit, "a read of changes") { [self] in
            try await readChanges(after: cursor, through: last, collections: collections, skipping: vector, limit: limit)
        }
    }

    package func vector() async throws -> VersionVector {
        try await boundedAwait(Self.operationLimit, "a read") { [self] in try await readVector() }
    }

    package func get(collection: String, id: String) async throws -> Document? {
        try await boundedAwait(Self.operationLimit, "a read") { [self] in try await readGet(collection: collection, id: id) }
    }

    package func digest(collection: String) async throws -> CollectionDigest {
        try await boundedAwait(Self.operationLimit, "a read") { [self] in try await readDigest(collection: collection) }
    }

    package func collections() async throws -> [String] {
        try await boundedAwait(Self.operationLimit, "a read") { [self] in try await readCollections() }
    }

    package func records(collection: String, since: UInt64, limit: Int, offset: Int) async throws -> [ServerRecord] {
        try await boundedAwait(Self.operationLimit, "a read") { [self] in try await readRecords(collection: collection, since: since, limit: limit, offset: offset) }
    }

    package func changeCount() async throws -> Int {
        try await boundedAwait(Self.operationLimit, "a read") { [self] in try await readChangeCount() }
    }

    package func clusterHead() async throws -> UInt64 {
        try await boundedAwait(Self.operationLimit, "a read") { [self] in
            var head: UInt64 = 0
            for row in try await fetch("SELECT seq FROM synclayer_head WHERE id = 1") {
                let seq = try row.decode(Int64.self)
                head = UInt64(clamping: seq)
            }
            return head
        }
    }

    private func readChanges(after cursor: UInt64, through last: UInt64, collections: Set<String>?,
                             skipping vector: VersionVector, limit: Int) async throws -> ChangePage {
        let names = collections.map { Array($0) }
        let upper = Int64(clamping: last)
        let rows = try await fetch("""
            SELECT server_seq, origin, seq, hlc, collection, record_id, kind, fields, sig FROM changes
            WHERE server_seq > \(Int64(bitPattern: cursor)) AND server_seq <= \(upper)
              AND (\(names)::text[] IS NULL OR collection = ANY(\(names)::text[]))
            ORDER BY server_seq LIMIT \(Int64(limit * 4 + 1))
            """)
        var result: [SequencedChange] = []
        var scanned = cursor
        var more = false
        let parser = JSONParser()
        for row in rows {
            let columns = try row.decode(PostgresChangeRow.Columns.self)
            // Every row is read (a row sequence left half-read would hold the connection).
            if more { continue }
            if result.count == limit {
                more = true
                continue
            }
            let row = try PostgresChangeRow(columns)
            scanned = row.serverSeq
            if row.seq <= vector[row.origin] { continue }
            result.append(SequencedChange(change: try row.change(parser), serverSeq: row.serverSeq))
        }
        if !more, result.count < limit, scanned > cursor {
            let beyond = try await fetch(
                "SELECT 1 FROM changes WHERE server_seq > \(Int64(bitPattern: scanned)) AND server_seq <= \(upper) LIMIT 1")
            if !beyond.isEmpty { more = true }
        }
        return ChangePage(changes: result, cursor: scanned, more: more)
    }

    private func readVector() async throws -> VersionVector {
        var vector = VersionVector()
        for row in try await fetch("SELECT origin, contiguous FROM origins") {
            let (origin, contiguous) = try row.decode((String, Int64).self)
            if let origin = NodeID(origin) { vector[origin] = UInt64(bitPattern: contiguous) }
        }
        return vector
    }

    private func readGet(collection: String, id: String) async throws -> Document? {
        let rows = try await fetch("SELECT body FROM documents WHERE collection = \(collection) AND id = \(id) AND visible")
        var document: Document?
        for row in rows {
            let body = try row.decode(String.self)
            document = Document(id: id, data: try JSONParser().parseObject(Array(body.utf8)))
        }
        return document
    }

    private func readDigest(collection: String) async throws -> CollectionDigest {
        var digest = ContentDigest()
        // The whole collection: streamed rather than fetched at once (``fetch(_:)`` holds every row),
        // so this read keeps postgres-nio's `query`, bounded by ``operationLimit``.
        let rows = try await client.query("SELECT id, body FROM documents WHERE collection = \(collection) AND visible ORDER BY id", logger: logger)
        for try await (id, body) in rows.decode((String, String).self) {
            digest.add(id: id, canonicalBody: Array(body.utf8))
        }
        return CollectionDigest(collection: collection, count: digest.count, digest: digest.finalize())
    }

    private func readCollections() async throws -> [String] {
        var names: [String] = []
        for row in try await fetch("SELECT DISTINCT collection FROM documents WHERE visible ORDER BY collection") {
            let name = try row.decode(String.self)
            names.append(name)
        }
        return names
    }

    private func readRecords(collection: String, since: UInt64, limit: Int, offset: Int) async throws -> [ServerRecord] {
        let rows = try await fetch("""
            SELECT id, body, updated_at, updated_seq FROM documents
            WHERE collection = \(collection) AND visible AND updated_at > \(Int64(bitPattern: since))
            ORDER BY updated_seq LIMIT \(Int64(limit)) OFFSET \(Int64(offset))
            """)
        var records: [ServerRecord] = []
        for row in rows {
            let (id, body, updatedAt, updatedSeq) = try row.decode((String, String, Int64, Int64).self)
            records.append(ServerRecord(id: id, data: try JSONParser().parseObject(Array(body.utf8)), updatedAt: UInt64(bitPattern: updatedAt),
                                        version: UInt64(bitPattern: updatedSeq)))
        }
        return records
    }

    /// Runs a read on a pooled connection through ``PostgresConnection/queryIfOpen(_:logger:)``, so a
    /// connection that closes as it is leased fails the read instead of leaving it unanswered.
    private func fetch(_ query: PostgresQuery) async throws -> PostgresQueryResult {
        try await client.withConnection { [logger] connection in try await connection.queryIfOpen(query, logger: logger) }
    }

    private func readChangeCount() async throws -> Int {
        var count = 0
        for row in try await fetch("SELECT count(*) FROM changes") {
            let value = try row.decode(Int64.self)
            count = Int(value)
        }
        return count
    }
}

/// PostgreSQL could not be used as the server's store: a clear reason, for the operator.
package struct PostgresStorageError: Error, CustomStringConvertible {
    package let description: String

    init(_ description: String) {
        self.description = description
    }
}
#endif
