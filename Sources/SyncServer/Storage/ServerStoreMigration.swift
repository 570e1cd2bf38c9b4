import Logging
import SyncCore
import SyncStore

/// A server's identity: the id it is known by (nodes keep cursors and vectors against it) and the
/// key it signs the changes it stamps for clients of the original protocol with.
package struct ServerIdentity: Sendable {
    package let serverID: NodeID
    package let signer: ChangeSigner

    package init(serverID: NodeID, signer: ChangeSigner) {
        self.serverID = serverID
        self.signer = signer
    }
}

/// What ``migrateServerStore(from:to:batch:logger:progress:)`` copied, checked on the destination.
package struct ServerStoreMigration: Sendable {
    /// The server id both stores now share.
    package let serverID: NodeID
    /// Changes copied (the destination's head equals the source's).
    package let changes: Int
    /// The head: the highest server sequence.
    package let head: UInt64
    /// Per collection, the digest both stores give.
    package let digests: [CollectionDigest]
}

/// Why a migration refused or stopped.
package struct ServerStoreMigrationError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

/// Copies a server's store to another location (SQLite file to PostgreSQL, PostgreSQL to SQLite, or
/// either to either), so that nodes continue against the copy without a full resync.
///
/// The copy keeps what a node holds the server to: the server id and signing key (adopted by the
/// destination before anything is written), every change with its server sequence (the source's
/// change log is replayed in sequence order through the destination's own commit path, which numbers
/// from 1 without gaps exactly as the source did), and so the documents, tombstones and version
/// vector that follow from them. It refuses a destination that holds changes, stops at the first
/// change that would get a different sequence, and at the end compares the head, change count,
/// vector and every collection's digest of both stores. The source is only read. Stop the servers
/// first: changes committed to the source during the copy are not copied.
///
/// What is not kept: each change's `received_at` and each document's `updated_at` (the time of the
/// copy), which no node reads.
package func migrateServerStore(from source: String, to destination: String, batch: Int = 500,
                                logger: Logger = Logger(label: "synclayer.server.migrate"),
                                progress: @Sendable (_ copied: Int, _ of: UInt64) -> Void = { _, _ in }) async throws -> ServerStoreMigration {
    guard source != destination else { throw ServerStoreMigrationError("--from and --to name the same store") }
    let from = try await openStorage(source, logger: logger)
    do {
        let migration = try await copy(from: from, to: destination, batch: batch, logger: logger, progress: progress)
        await from.close()
        return migration
    } catch {
        await from.close()
        throw error
    }
}

private func copy(from: any ServerStorage, to destination: String, batch: Int, logger: Logger,
                  progress: @Sendable (Int, UInt64) -> Void) async throws -> ServerStoreMigration {
    // The destination must be new (or empty): then it adopts the source's identity.
    let fresh = try await openStorage(destination, logger: logger)
    let held = try await fresh.changeCount()
    let freshID = fresh.serverID
    await fresh.close()
    guard held == 0 else {
        throw ServerStoreMigrationError("\(destination) already holds \(held) changes: a migration only fills an empty store")
    }
    if freshID != from.serverID { try await adoptIdentity(from.identity, at: destination, logger: logger) }
    let to = try await openStorage(destination, logger: logger)
    do {
        guard to.serverID == from.serverID else {
            throw ServerStoreMigrationError("\(destination) did not take the server id \(from.serverID) (it has \(to.serverID))")
        }
        let head = from.head
        var cursor: UInt64 = 0, copied = 0
        while cursor < head {
            let page = try await from.changes(after: cursor, through: head, collections: nil, skipping: VersionVector(), limit: batch)
            guard !page.changes.isEmpty else { break }
            let outcomes = try await to.commit(page.changes.map(\.change), submitter: 0)
            for sequenced in page.changes {
                guard case .committed(let serverSeq, false) = outcomes[sequenced.change.id], serverSeq == sequenced.serverSeq else {
                    throw ServerStoreMigrationError(
                        "change \(sequenced.change.id) has server sequence \(sequenced.serverSeq) in the source but "
                            + "\(String(describing: outcomes[sequenced.change.id])) in the destination; the copy is not usable")
                }
            }
            copied += page.changes.count
            cursor = page.cursor
            progress(copied, head)
        }
        // Checked on what the databases hold, not on what was sent.
        guard try await to.changeCount() == from.changeCount() else {
            throw ServerStoreMigrationError("the destination holds \(try await to.changeCount()) changes, the source \(try await from.changeCount())")
        }
        guard try await to.vector() == from.vector() else { throw ServerStoreMigrationError("the version vectors differ after the copy") }
        var digests: [CollectionDigest] = []
        let collections = Set(try await from.collections()).union(try await to.collections()).sorted()
        for collection in collections {
            let digest = try await from.digest(collection: collection)
            guard try await to.digest(collection: collection) == digest else {
                throw ServerStoreMigrationError("collection \(collection) differs after the copy")
            }
            digests.append(digest)
        }
        let migration = ServerStoreMigration(serverID: to.serverID, changes: copied, head: to.head, digests: digests)
        await to.close()
        return migration
    } catch {
        await to.close()
        throw error
    }
}

/// Writes `identity` into the store at `location`, which holds no changes (checked by the caller).
private func adoptIdentity(_ identity: ServerIdentity, at location: String, logger: Logger) async throws {
    if isPostgresLocation(location) {
        #if PostgreSQL
        try await PostgresSchema.replaceIdentity(serverID: identity.serverID, signer: identity.signer, at: try PostgresLocation(location),
                                                 logger: logger)
        #endif
        return
    }
    try await onDatabaseThread(name: "synclayer.server.migrate") {
        try StoreOpener.replaceIdentity(nodeID: identity.serverID, signer: identity.signer, path: location)
    }
}
