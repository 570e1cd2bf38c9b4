#if PostgreSQL
import SyncCore

/// What a write statement's `pg_notify('synclayer_commits', …)` says of its commit: the head it
/// left and, when they fit, the numbers it gave and their collections.
///
/// The payload is `HEAD`, or `HEAD FROM COLLECTION…` (space-separated) for the numbers `FROM + 1`
/// through `HEAD`. An instance that has published through `FROM` and subscribes to none of those
/// collections publishes through `HEAD` without reading the table (`PostgresWriter.catchUp`).
/// Notifications arrive in commit order, which is sequence order (every writer holds the head's
/// lock), and only for commits: so a notice is true and, when its `FROM` is where the instance
/// stands, nothing lies between. A notice that names only the head (an instance of an earlier
/// version, or collections too many to list) is answered by a read, as before.
package struct PostgresCommitNotice: Equatable, Sendable {
    /// The highest server sequence once the commit is visible.
    package let head: UInt64
    /// The numbers the commit gave are `from + 1 ... head`; `nil` when the payload names only the head.
    package let from: UInt64?
    /// The collections of the changes those numbers hold (meaningful only with `from`).
    package let collections: Set<String>

    /// The most bytes of collection names a payload carries (PostgreSQL takes up to 8,000).
    static let maxListedBytes = 4_000

    package init(head: UInt64, from: UInt64?, collections: Set<String>) {
        self.head = head
        self.from = from
        self.collections = from == nil ? [] : collections
    }

    /// Reads a notification's payload; `nil` when it names no head.
    package init?(payload: String) {
        let words = payload.split(separator: " ")
        guard let first = words.first, let head = UInt64(first) else { return nil }
        guard words.count >= 2, let from = UInt64(words[1]), from < head else {
            self.init(head: head, from: nil, collections: [])
            return
        }
        self.init(head: head, from: from, collections: Set(words.dropFirst(2).map(String.init)))
    }

    /// The payload; names only the head when a collection's name is not one a change can have
    /// (it could not be told apart from the next) or the names would be too long.
    package var payload: String {
        guard let from else { return String(head) }
        var bytes = 0
        for name in collections {
            bytes += name.utf8.count + 1
            guard Identifiers.problem(withCollection: name) == nil, bytes <= Self.maxListedBytes else { return String(head) }
        }
        return ([String(head), String(from)] + collections.sorted()).joined(separator: " ")
    }
}
#endif
