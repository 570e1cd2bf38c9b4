import Logging
import SyncCore
import SyncStore

/// Opens the server's store named by `location`: a `postgres://` (or `postgresql://`) URL opens
/// ``PostgresServerStorage`` (in builds with the `PostgreSQL` trait, the default); anything else is
/// the path of a SQLite file (``SQLiteServerStorage``, the embedded default).
package func openStorage(_ location: String, durability: Durability = .processCrash, wallClock: any WallClock = SystemWallClock(),
                         limits: ServerStorageLimits = ServerStorageLimits(),
                         logger: Logger = Logger(label: "synclayer.server.store")) async throws -> any ServerStorage {
    if isPostgresLocation(location) {
        #if PostgreSQL
        return try await PostgresServerStorage.open(url: location, wallClock: wallClock, limits: limits, logger: logger)
        #else
        throw StoreError(.database, "this build of synclayer has no PostgreSQL support (built without the PostgreSQL trait)")
        #endif
    }
    return try await SQLiteServerStorage.open(path: location, durability: durability, wallClock: wallClock, limits: limits, logger: logger)
}

/// Whether `location` names a PostgreSQL database (`postgres://` or `postgresql://`) rather than a SQLite file.
package func isPostgresLocation(_ location: String) -> Bool {
    location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
}
