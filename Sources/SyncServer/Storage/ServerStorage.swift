import SyncCore
import SyncStore

/// Where the server keeps what it accepted: every change once, numbered in the server's own
/// sequence, the documents they merge into, and the version vector of what it holds.
///
/// The rules every implementation keeps (the SQLite one is ``SQLiteServerStorage``):
/// - a change is committed at most once per change id; a duplicate reports the sequence it got first;
/// - server sequences are dense and become visible in commit order, so a reader paging by
///   ``changes(after:through:collections:skipping:limit:)`` never skips one;
/// - documents merge by the same per-field rule as every node, so digests compare byte for byte;
/// - ``commit(_:submitter:)`` returns only after the commit is durable, and commit observers hear
///   each commit once, in sequence order, before any later one.
package protocol ServerStorage: Sendable {
    /// The server's node id: the origin of the changes it stamps for clients of the original protocol.
    var serverID: NodeID { get }
    /// The server's id and the key it signs its own changes with (copied by ``migrateServerStore(from:to:batch:logger:progress:)``).
    var identity: ServerIdentity { get }
    /// The highest server sequence committed.
    var head: UInt64 { get }
    /// Per origin, the highest sequence held without a gap, as of the last commit (no read).
    var heldVector: VersionVector { get }
    /// What the storage accepts.
    var limits: ServerStorageLimits { get }

    /// Registers `handler` to hear every commit in sequence order; returns a token for ``removeObserver(_:)``.
    /// The handler runs on the committing thread: keep it quick.
    func observeCommits(_ handler: @escaping @Sendable (StoreEvent) -> Void) -> UInt64
    /// Stops an observer.
    func removeObserver(_ token: UInt64)
    /// Sets what hears how long each write transaction took (`nil` stops it).
    func timeCommits(_ handler: (@Sendable (Duration) -> Void)?)
    /// Says which collections the observers want (`nil`, the default: all). A store that publishes
    /// commits of other instances (PostgreSQL) reads only theirs in those, asking `collections`
    /// before each read; each such publication says how far it goes and which collections it
    /// holds every change of (``StoreCommit/through``, ``StoreCommit/complete``).
    func setInterest(_ collections: (@Sendable () -> Set<String>)?)

    /// Validates and commits changes (each once: a duplicate reports its first sequence).
    /// `submitter` tags the committed changes for commit observers (0: untagged).
    func commit(_ changes: [Change], submitter: UInt64) async throws -> [ChangeID: CommitOutcome]
    /// Stamps writes of the original protocol as the server's own changes and commits them.
    func commitLegacy(_ writes: [LegacyWrite], submitter: UInt64) async throws -> [SequencedChange]

    /// Changes after `cursor` and up to `last`, in `collections` (all when `nil`), skipping what
    /// `vector` covers; at most `limit` returned.
    func changes(after cursor: UInt64, through last: UInt64, collections: Set<String>?,
                 skipping vector: VersionVector, limit: Int) async throws -> ChangePage
    /// The version vector, read from the database.
    func vector() async throws -> VersionVector
    /// A document, or `nil` when it does not exist.
    func get(collection: String, id: String) async throws -> Document?
    /// A collection's document count and content digest.
    func digest(collection: String) async throws -> CollectionDigest
    /// The collections that hold documents.
    func collections() async throws -> [String]
    /// Documents of a collection changed after server sequence `since`, for the original protocol's pull.
    func records(collection: String, since: UInt64, limit: Int, offset: Int) async throws -> [ServerRecord]
    /// How many changes the storage holds.
    func changeCount() async throws -> Int
    /// The head of the whole store as the database holds it now: on PostgreSQL the last sequence
    /// any instance committed (an instance's own ``head`` moves when it has published up to it),
    /// on SQLite ``head`` itself.
    func clusterHead() async throws -> UInt64
    /// Counters of the store's own work, for `/metrics` (`Docs/Operations.md`, "Metrics").
    var counters: [StoreCounter] { get }
    /// Finishes queued work and closes.
    func close() async
}

/// A counter a server store keeps of its own work, as `/metrics` shows it.
package struct StoreCounter: Sendable, Equatable {
    package let name: String
    package let labels: [String: String]
    package let help: String
    package let total: Int

    package init(_ name: String, _ labels: [String: String] = [:], help: String, total: Int) {
        self.name = name
        self.labels = labels
        self.help = help
        self.total = total
    }
}

extension ServerStorage {
    /// Commits untagged changes.
    package func commit(_ changes: [Change]) async throws -> [ChangeID: CommitOutcome] {
        try await commit(changes, submitter: 0)
    }

    /// Commits untagged writes of the original protocol.
    package func commitLegacy(_ writes: [LegacyWrite]) async throws -> [SequencedChange] {
        try await commitLegacy(writes, submitter: 0)
    }

    /// Changes after `cursor`, up to the head, that `vector` does not cover; at most 500.
    package func changes(after cursor: UInt64, through last: UInt64 = .max, collections: Set<String>?,
                         skipping vector: VersionVector = VersionVector(), limit: Int = 500) async throws -> ChangePage {
        try await changes(after: cursor, through: last, collections: collections, skipping: vector, limit: limit)
    }
}

extension ServerStorage {
    /// A store whose observers hear only its own commits publishes them whole: nothing to choose.
    package func setInterest(_ collections: (@Sendable () -> Set<String>)?) {}

    /// A store with nothing of its own to count (SQLite: its commits are the server's counters).
    package var counters: [StoreCounter] { [] }
}
