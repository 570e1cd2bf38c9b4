extension LocalStore {
    /// A value the node keeps about itself (e.g. the last server it talked to), or `nil`.
    package func meta(_ key: String) async throws -> String? {
        try await readers.read { try $0.scalarText("SELECT value FROM meta WHERE key = ?1", .text(key)) }
    }

    /// Sets a value the node keeps about itself.
    package func setMeta(_ key: String, _ value: String) async throws {
        try await writer.write { context in
            try context.connection.run("INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                       .text(key), .text(value))
        }
    }

    /// The machine's clock was corrected (see ``SystemWallClock/offsetMillis``): the node's clock
    /// forgets readings it gave out while it ran ahead (``HybridLogicalClock/rebase(physicalMillis:)``).
    package func rebaseClock() async throws {
        try await writer.write { context in
            context.state.clock.rebase(physicalMillis: context.wallClock.nowMillis())
        }
    }
}
