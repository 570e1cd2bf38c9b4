import SyncLayer
import SyncServer
import SyncTesting
import Testing
import SyncCore

@Suite(.timeLimit(.minutes(2))) struct ThreeNodeTests {
    @Test func aWriteOnOneNodeAppearsInTheOthersWatch() async throws {
        try await withCluster(nodes: 3) { server, nodes, _ in
            for node in nodes { await node.waitUntilConnected() }
            let watchB = nodes[1].node.collection("todos").watch()
            let watchC = nodes[2].node.collection("todos").watch()
            try await nodes[0].node.collection("todos").save(["text": "Buy milk", "done": false], id: "t1")
            let seenB = try await firstMatch(watchB) { $0.contains { $0.id == "t1" } }
            let seenC = try await firstMatch(watchC) { $0.contains { $0.id == "t1" } }
            #expect(seenB?.first?.data == ["text": "Buy milk", "done": false])
            #expect(seenC?.first?.data == ["text": "Buy milk", "done": false])
        }
    }

    /// Each node's session shares a frame key with the server, so the server checks no change's
    /// own signature for what the nodes write, one at a time or in a burst (Docs/Security.md,
    /// "Frame keys"), and stores every change with its signature for the nodes that relay it.
    @Test func theServerChecksNoSignatureOfWhatNodesWriteThroughTheirFrameKeys() async throws {
        try await withCluster(nodes: 2) { server, nodes, _ in
            for node in nodes { await node.waitUntilConnected() }
            let a = nodes[0].node.collection("todos"), b = nodes[1].node.collection("todos")
            for index in 0..<3 {
                try await a.save(["n": .int(Int64(index))], id: "one-\(index)")
                _ = try await firstMatch(b.watch()) { $0.contains { $0.id == "one-\(index)" } }
            }
            for index in 0..<20 { try await b.save(["n": .int(Int64(index))], id: "burst-\(index)") }
            _ = try await firstMatch(a.watch()) { $0.count == 23 }
            let (status, metrics) = try await HTTPHelper.get("\(server.baseURL)/metrics.json")
            #expect(status == 200)
            #expect(metrics?["changeSignaturesChecked"] == .int(0) && metrics?["frameSignaturesChecked"] == .int(0), "\(String(describing: metrics))")
            #expect((metrics?["frameKeysChecked"]?.intValue ?? 0) >= 2)
            #expect((metrics?["frameCodesChecked"]?.intValue ?? 0) >= 4, "three single writes and at least one burst")
            let stored = try await server.store.changes(after: 0, collections: ["todos"]).changes.map(\.change)
            #expect(stored.count == 23 && stored.allSatisfy { ChangeSigner.verify($0) == .valid })
        }
    }

    @Test func concurrentUpdatesOfDifferentFieldsBothSurvive() async throws {
        try await withCluster(nodes: 3) { server, nodes, _ in
            for node in nodes { await node.waitUntilConnected() }
            let a = nodes[0].node.collection("todos"), b = nodes[1].node.collection("todos")
            try await a.save(["text": "Milk", "done": false, "priority": 1], id: "t1")
            _ = try await firstMatch(b.watch()) { $0.contains { $0.id == "t1" } }
            try await a.update("t1", ["done": true])
            try await b.update("t1", ["priority": 5])
            let expected: JSONObject = ["text": "Milk", "done": true, "priority": 5]
            for node in nodes {
                let merged = try await firstMatch(node.node.collection("todos").watch()) { $0.first?.data == expected }
                #expect(merged?.first?.data == expected, "an update carries only its fields and never wipes the others")
            }
            let serverDigest = try await server.store.digest(collection: "todos")
            for node in nodes {
                #expect(try await node.node.collection("todos").digest() == serverDigest)
            }
        }
    }

    @Test func deletesReachANodeThatOnlyPolls() async throws {
        let configure: @Sendable (Int, inout SyncConfiguration) -> Void = { index, configuration in
            if index == 1 { configuration.syncInterval = .milliseconds(200) }
        }
        try await withCluster(nodes: 2, realtime: [true, false], configure: configure) { _, nodes, _ in
            await nodes[0].waitUntilConnected()
            let writer = nodes[0].node.collection("todos"), poller = nodes[1].node.collection("todos")
            try await writer.save(["text": "Temporary"], id: "gone")
            #expect(try await firstMatch(poller.watch()) { $0.contains { $0.id == "gone" } } != nil)
            try await writer.delete("gone")
            let after = try await firstMatch(poller.watch()) { !$0.contains { $0.id == "gone" } }
            #expect(after != nil, "the tombstone arrived by polling")
            #expect(nodes[1].node.linkState == .disconnected)
        }
    }
}

