import SyncLayer
import SyncCore
import SyncStore

/// What `synclayer status` and the console show about a node.
enum NodeStatus {
    /// The node's status report: `GET /status`, and the console's `status` events. Times are
    /// milliseconds since the epoch by the node's clock (`time` is its reading now), ages in seconds.
    /// `collections`, when given, is used instead of reading every collection's digest again.
    static func report(_ node: SyncNode, collections: JSONObject? = nil) async throws -> JSONObject {
        let store = node.store
        let now = node.wallClock.nowMillis()
        let collections = if let collections { collections } else { try await Self.collections(node) }
        let position = try await store.serverPosition()
        let server = position.server?.rawValue
        let cursor = position.cursor
        let outbox = try await store.outboxSummary()
        let oldest = outbox.oldest?.wallMillis
        let metrics = node.metrics()
        var mesh: JSONValue = .null
        if let status = node.meshStatus {
            mesh = [
                "port": .int(Int64(status.port)), "team": .string(status.teamID), "uplink": .bool(status.uplink),
                "discovery": .string(status.discovery),
                "peers": .array(status.peers.map { peer in
                    [
                        "nodeId": .string(peer.nodeID.rawValue), "uplink": .bool(peer.uplink), "address": .string(peer.address),
                        "direction": .string(peer.direction.rawValue), "since": .int(Int64(clamping: peer.since)),
                        "linkAgeSeconds": .double(seconds(now, since: peer.since)), "encrypted": .bool(peer.encrypted),
                        "changesSent": .int(Int64(peer.changesSent)), "changesReceived": .int(Int64(peer.changesReceived)),
                    ]
                }),
            ]
        }
        let backend = node.backendStatus
        var backendReport: JSONObject = ["protocol": .string(backend.protocol)]
        if backend.protocol == "original" {
            backendReport["rest"] = backend.rest.map { .bool($0) } ?? .null
            backendReport["transport"] = switch backend.rest {
            case false?: "websocket only"
            case true?: "websocket and rest"
            case nil: "websocket (rest not tried yet)"
            }
        }
        return [
            "backend": .object(backendReport),
            "mesh": mesh,
            "nodeId": .string(node.nodeID.rawValue),
            "time": .int(Int64(clamping: now)),
            "link": .string(node.linkState.rawValue),
            "linkSince": .int(Int64(clamping: node.linkStateSince)),
            "serverUrl": node.serverURL.map { .string($0) } ?? .null,
            "server": server.map { .string($0) } ?? .null,
            "serverCursor": .int(Int64(clamping: cursor)),
            "outbox": .int(Int64(outbox.count)),
            "outboxOldest": oldest.map { .int(Int64(clamping: $0)) } ?? .null,
            "outboxOldestAgeSeconds": oldest.map { .double(seconds(now, since: $0)) } ?? .null,
            "vector": try await store.vector().jsonValue,
            "collections": .object(collections),
            "metrics": [
                "operationsQueued": .int(Int64(metrics.operationsQueued)), "operationsSynced": .int(Int64(metrics.operationsSynced)),
                "changesReceived": .int(Int64(metrics.changesReceived)), "conflictsDetected": .int(Int64(metrics.conflictsDetected)),
                "syncAttempts": .int(Int64(metrics.syncAttempts)), "failedSyncs": .int(Int64(metrics.failedSyncs)),
                "changesRelayed": .int(Int64(metrics.changesRelayed)), "changesFromPeers": .int(Int64(metrics.changesFromPeers)),
                "framesRejected": .int(Int64(metrics.framesRejected)),
                "changesRefused": .int(Int64(metrics.changesRefused)),
                "slowPeersDropped": .int(Int64(metrics.slowPeersDropped)),
                "relaySkipped": .int(Int64(metrics.relaySkipped)),
            ],
        ]
    }

    /// Per collection (the configured ones and any that holds documents), its count and digest:
    /// a read of every document, so the console's feed reads it again only after a change.
    static func collections(_ node: SyncNode) async throws -> JSONObject {
        let store = node.store
        var collections: JSONObject = [:]
        var names = Set(try await store.collections())
        names.formUnion(node.configuration.collections)
        for name in names.sorted() {
            let digest = try await store.digest(collection: name)
            collections[name] = ["count": .int(Int64(digest.count)), "digest": .string(digest.digest)]
        }
        return collections
    }

    /// The report without what only ages with time: two reports that differ in nothing else say
    /// the same (the page ages them itself).
    static func withoutAges(_ report: JSONObject) -> JSONObject {
        var report = report
        report["time"] = nil
        report["outboxOldestAgeSeconds"] = nil
        if case .object(var mesh)? = report["mesh"], case .array(let peers)? = mesh["peers"] {
            mesh["peers"] = .array(peers.map { peer in
                guard case .object(var fields) = peer else { return peer }
                fields["linkAgeSeconds"] = nil
                return .object(fields)
            })
            report["mesh"] = .object(mesh)
        }
        return report
    }

    private static func seconds(_ now: UInt64, since: UInt64) -> Double {
        Double(now > since ? now - since : 0) / 1000
    }
}
