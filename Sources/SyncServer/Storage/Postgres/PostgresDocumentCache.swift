#if PostgreSQL
import SyncCore

/// The documents this instance's own commits wrote, as they wrote them, so that a commit reads
/// from the database only the documents whose row has changed since.
///
/// Each entry carries what the row it was written as says of itself: `updated_seq` and
/// `updated_commit`, a random id of the transaction that wrote it (schema 3). A transaction sends
/// both for each document of its batch and gets back only the rows that differ (another instance
/// wrote the document since, or a database restored from a backup holds another version of it, even
/// one with the same number: the id tells them apart). A row that still says the same is the
/// transaction's write, and so the entry is what it holds. With one instance every document comes
/// from memory; with several, those another instance wrote since are read.
struct PostgresDocumentCache {
    struct Entry: Sendable {
        let state: DocumentState
        /// The row's `updated_seq` and `updated_commit` as written.
        let seq: UInt64
        let commitID: Int64
        /// The stored JSON's size (body and clocks), which bounds the cache.
        let bytes: Int
    }

    /// At most this many bytes of stored JSON are held; past it the cache starts again empty.
    let limit: Int
    private(set) var entries: [PostgresDocumentKey: Entry] = [:]
    private(set) var bytes = 0

    init(limit: Int) {
        self.limit = limit
    }

    /// Records the documents a transaction wrote once its `COMMIT` answered. An entry already
    /// written at a later number stays (an earlier commit whose answer came after it).
    mutating func committed(_ written: [PostgresDocumentKey: Entry]) {
        guard limit > 0 else { return }
        for (key, entry) in written {
            if let held = entries[key], held.seq > entry.seq { continue }
            bytes += entry.bytes - (entries.updateValue(entry, forKey: key)?.bytes ?? 0)
        }
        if bytes > limit { clear() }
    }

    /// Forgets everything.
    mutating func clear() {
        entries = [:]
        bytes = 0
    }
}
#endif
