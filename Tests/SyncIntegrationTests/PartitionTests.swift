import Foundation
import SyncLayer
import SyncServer
import SyncTesting
import Testing
import SyncCore
import SyncStore

@Suite(.timeLimit(.minutes(3))) struct PartitionTests {
    @Test func aLinkCutWithoutATCPCloseIsDetectedAndEverythingConvergesAfterwards() async throws {
        try await withTemporaryDirectory(prefix: "partition") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            let proxy = try await TCPProxy.start(targetPort: server.port)
            let cut = try await TestNode.start(path: directory.file("cut.sqlite"), baseURL: "http://127.0.0.1:\(proxy.port)") {
                $0.pingInterval = .milliseconds(250)
                $0.syncInterval = .milliseconds(500)
            }
            let online = try await TestNode.start(path: directory.file("online.sqlite"), baseURL: server.baseURL)
            await cut.waitUntilConnected()
            await online.waitUntilConnected()

            proxy.blackhole()
            // TCP stays open; only the missing pongs can tell. The link must notice.
            var states = cut.node.linkStates().makeAsyncIterator()
            while let state = await states.next(), state == .connected {}
            #expect(cut.node.linkState != .connected)

            for index in 0..<20 {
                try await cut.node.collection("todos").save(["from": "cut", "n": .int(Int64(index))], id: "cut-\(index)")
                try await online.node.collection("todos").save(["from": "online", "n": .int(Int64(index))], id: "online-\(index)")
            }
            try await online.node.collection("todos").update("online-3", ["edited": true])
            try await cut.node.collection("todos").delete("cut-5")
            #expect(try await cut.node.store.outboxCount() == 21, "nothing reached the server while cut")

            await proxy.restore()
            await cut.waitUntilConnected()
            #expect(try await converged(server, [cut.node, online.node]))
            let all = try await cut.node.collection("todos").getAll()
            #expect(all.count == 39)
            #expect(all.first { $0.id == "online-3" }?["edited"] == true)
            await cut.stop()
            await online.stop()
            await proxy.stop()
            await server.stop()
        }
    }

    @Test func aNodeWhoseClockIsAnHourFastDoesNotWinForever() async throws {
        try await withTemporaryDirectory(prefix: "clock") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"))
            let fastClock = SystemWallClock()
            fastClock.offsetMillis = 3_600_000
            // The fast node writes while it has never seen the server: its stamp is an hour ahead.
            var configuration = SyncConfiguration(databasePath: directory.file("fast.sqlite"), baseURL: server.baseURL, collections: ["todos"])
            configuration.enableRealtimeSync = true
            configuration.websocketReconnectDelay = .milliseconds(100)
            let fast = try await SyncNode.open(configuration, clock: fastClock)
            try await fast.collection("todos").save(["owner": "fast"], id: "shared")
            let honest = try await TestNode.start(path: directory.file("honest.sqlite"), baseURL: server.baseURL)
            await honest.waitUntilConnected()
            try await honest.node.collection("todos").save(["owner": "honest"], id: "shared")

            let fastRun = Task { try await fast.run() }
            // On its first contact the fast node learns the server's time and corrects its clock.
            for await state in fast.linkStates() where state == .connected { break }
            #expect(abs(fastClock.offsetMillis) < 10_000, "the node's clock was corrected (offset now \(fastClock.offsetMillis) ms)")
            #expect(try await converged(server, [fast, honest.node]))
            // Its offline write, stamped an hour ahead, wins once (last writer wins by the clocks)...
            #expect(try await honest.node.collection("todos").get("shared")?["owner"] == "fast")
            // ...but not forever: the next edit, by anyone, wins over it.
            try await honest.node.collection("todos").update("shared", ["owner": "honest again"])
            #expect(try await converged(server, [fast, honest.node]))
            #expect(try await fast.collection("todos").get("shared")?["owner"] == "honest again")
            // And the fast node's new writes carry real time now, within the drift bound (60 s): what it
            // observed from others may move it ahead by no more than that, never by the hour.
            let change = try await fast.store.put(collection: "todos", id: "later", fields: [:])
            let now = SystemWallClock().nowMillis()
            #expect(change.hlc.wallMillis < now + 70_000, "new writes are no longer stamped an hour ahead")
            // The honest node's clock was not dragged an hour ahead by what it received.
            let honestChange = try await honest.node.store.put(collection: "todos", id: "honest-later", fields: [:])
            #expect(honestChange.hlc.wallMillis < now + 120_000)
            fastRun.cancel()
            _ = try? await fastRun.value
            await fast.close()
            await honest.stop()
            await server.stop()
        }
    }
}
