import SyncLayer
import SyncServer
import SyncTesting
import Testing
import SyncCore
import SyncStore

/// A node comes back online with a pending change to a field another node changed meanwhile.
/// Whatever the strategy, every node and the server converge; the strategy decides to what.
@Suite(.timeLimit(.minutes(2))) struct ConflictStrategyTests {
    /// Runs the scenario: `offline` (configured with `strategy`) edits `v` while cut off; `online`
    /// edits it too; `offline` reconnects. `offlineFirst` decides whose edit is older (by 1.5 s of
    /// clock). Returns the converged value of `v` and the conflicts the offline node saw.
    func scenario(strategy: ConflictStrategy, resolver: ConflictResolver? = nil, offlineFirst: Bool,
                  offlineValue: JSONValue, onlineValue: JSONValue) async throws -> (value: JSONValue?, conflicts: Int) {
        try await withTemporaryDirectory(prefix: "conflict") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            let online = try await TestNode.start(path: directory.file("online.sqlite"), baseURL: server.baseURL)
            await online.waitUntilConnected()
            try await online.node.collection("todos").save(["v": 0, "note": "shared"], id: "d")

            // The offline node's clock is 1.5 s behind or ahead: enough to order the two edits, too
            // little to be corrected (2 s), so the strategy, not the clock, decides.
            let clock = SystemWallClock()
            clock.offsetMillis = offlineFirst ? -1_500 : 1_500
            var configuration = SyncConfiguration(databasePath: directory.file("offline.sqlite"), baseURL: server.baseURL, collections: ["todos"])
            configuration.enableRealtimeSync = true
            configuration.websocketReconnectDelay = .milliseconds(100)
            configuration.conflictStrategy = strategy
            configuration.customConflictResolver = resolver
            let offline = try await SyncNode.open(configuration, clock: clock)
            // First sync, to have the document, then go offline.
            var run = Task { try await offline.run() }
            _ = try await waitUntil(offline) { try await offline.collection("todos").get("d") != nil }
            run.cancel()
            _ = try? await run.value

            try await offline.collection("todos").update("d", ["v": offlineValue])
            try await online.node.collection("todos").update("d", ["v": onlineValue])
            // The online edit is on the server before the offline node comes back (else the conflict
            // would be met on the online node instead, with its own strategy).
            let store = online.node.store
            let uploaded = try await waitUntil(online.node) { try await store.outboxCount() == 0 }
            #expect(uploaded)
            run = Task { try await offline.run() }
            let nodes = [offline, online.node]
            let together = try await converged(server, nodes, timeout: .seconds(30)) {
                offline.metrics().conflictsResolved == offline.metrics().conflictsDetected && offline.metrics().conflictsDetected > 0
            }
            #expect(together, "every node and the server converge")
            let value = try await online.node.collection("todos").get("d")?["v"]
            #expect(try await online.node.collection("todos").get("d")?["note"] == "shared", "fields outside the conflict are kept")
            let conflicts = offline.metrics().conflictsDetected
            run.cancel()
            _ = try? await run.value
            await offline.close()
            await online.stop()
            await server.stop()
            return (value, conflicts)
        }
    }

    @Test func lastWriteWinsKeepsTheNewerEdit() async throws {
        let result = try await scenario(strategy: .lastWriteWins, offlineFirst: false, offlineValue: "offline", onlineValue: "online")
        #expect(result.value == "offline")
        #expect(result.conflicts == 1)
    }

    @Test func serverWinsKeepsTheServersValueOverANewerPendingEdit() async throws {
        let result = try await scenario(strategy: .serverWins, offlineFirst: false, offlineValue: "offline", onlineValue: "online")
        #expect(result.value == "online")
    }

    @Test func clientWinsKeepsThePendingEditOverANewerRemoteOne() async throws {
        let result = try await scenario(strategy: .clientWins, offlineFirst: true, offlineValue: "offline", onlineValue: "online")
        #expect(result.value == "offline")
    }

    @Test func customResolverDecides() async throws {
        let result = try await scenario(strategy: .custom, resolver: .sumNumbers, offlineFirst: true, offlineValue: 5, onlineValue: 7)
        #expect(result.value == 12)
    }
}
