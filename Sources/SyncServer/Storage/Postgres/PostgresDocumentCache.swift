#if PostgreSQL
import SyncCore

/// The head's row as a write transaction finds it under its lock: the highest number given and the
/// random id of the transaction that gave it (schema 3). Two reads name the same database state
/// only if both are equal: numbers alone would not tell a database restored from a backup, which
/// gives the numbers after its head again to other changes.
struct PostgresHeadVersion: Equatable, Sendable {
    let seq: UInt64
    let commitID: Int64
}

/// The documents this instance's own commits wrote, as they wrote them, so that the next commit
/// reads from the database only the documents it does not hold.
///
/// What it holds is true only at one version of the head (``version``): the version its last
/// commit left. A transaction that finds the head at another version under its lock (another
/// instance committed since, a commit of this instance's whose outcome is unknown, a restored
/// database) uses none of it, and the cache starts again from that transaction's own writes. With
/// one instance every commit finds what the one before left, and a batch's documents come from
/// memory; with several, each instance's commits usually follow another's, and it reads them all
/// as before.
struct PostgresDocumentCache {
    struct Entry: Sendable {
        let state: DocumentState
        /// The stored JSON's size (body and clocks), which bounds the cache.
        let bytes: Int
    }

    /// At most this many bytes of stored JSON are held; past it the cache starts again empty.
    let limit: Int
    /// The version of the head the entries are true at (`nil`: none).
    private(set) var version: PostgresHeadVersion?
    private(set) var entries: [PostgresDocumentKey: Entry] = [:]
    private(set) var bytes = 0

    init(limit: Int) {
        self.limit = limit
    }

    /// The entries, if they are true at `version` (what a transaction read under the head's lock);
    /// otherwise none, and the cache lets them go.
    mutating func entries(at version: PostgresHeadVersion) -> [PostgresDocumentKey: Entry] {
        if self.version == version { return entries }
        clear()
        return [:]
    }

    /// Records what a transaction committed: it started at `base` and left the head at `end`,
    /// having written `written`. Applied on top of the entries if they were true at `base`; instead
    /// of them otherwise (they are true at `end` all the same: nothing but `written` is held). A
    /// commit older than what is held (a slower `COMMIT` answer) is dropped.
    mutating func committed(from base: PostgresHeadVersion, to end: PostgresHeadVersion,
                            _ written: [PostgresDocumentKey: Entry]) {
        if version != base {
            if let version, version.seq >= end.seq { return }
            clear()
        }
        version = end
        for (key, entry) in written {
            bytes += entry.bytes - (entries.updateValue(entry, forKey: key)?.bytes ?? 0)
        }
        if bytes > limit { clear(keeping: end) }
    }

    /// Forgets everything; still true at `version`, if given (empty is true at any version).
    mutating func clear(keeping version: PostgresHeadVersion? = nil) {
        self.version = version
        entries = [:]
        bytes = 0
    }
}
#endif
