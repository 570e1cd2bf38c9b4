import SyncLayer

/// What `synclayer status` shows about a node.
enum NodeStatus {
    static func report(_ node: SyncNode) async throws -> JSONObject {
        let store = node.store
        var collections: JSONObject = [:]
        var names = Set(try await store.collections())
        names.formUnion(node.configuration.collections)
        for name in names.sorted() {
            let digest = try await store.digest(collection: name)
            collections[name] = ["count": .int(Int64(digest.count)), "digest": .string(digest.digest)]
        }
        let server = try await store.meta("server.id")
        var cursor: UInt64 = 0
        if let server, let id = NodeID(server) { cursor = try await store.cursor("server:\(id.rawValue)") }
        let metrics = node.metrics()
        return [
            "nodeId": .string(node.nodeID.rawValue),
            "link": .string(node.linkState.rawValue),
            "server": server.map { .string($0) } ?? .null,
            "serverCursor": .int(Int64(clamping: cursor)),
            "outbox": .int(Int64(try await store.outboxCount())),
            "vector": try await store.vector().jsonValue,
            "collections": .object(collections),
            "metrics": [
                "operationsQueued": .int(Int64(metrics.operationsQueued)), "operationsSynced": .int(Int64(metrics.operationsSynced)),
                "changesReceived": .int(Int64(metrics.changesReceived)), "conflictsDetected": .int(Int64(metrics.conflictsDetected)),
                "syncAttempts": .int(Int64(metrics.syncAttempts)), "failedSyncs": .int(Int64(metrics.failedSyncs)),
            ],
        ]
    }
}
