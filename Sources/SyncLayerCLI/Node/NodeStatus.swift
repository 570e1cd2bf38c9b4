#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SyncLayer
import SyncCore
import SyncStore

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
        let position = try await store.serverPosition()
        let server = position.server?.rawValue
        let cursor = position.cursor
        let metrics = node.metrics()
        var mesh: JSONValue = .null
        if let status = node.meshStatus {
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            mesh = [
                "port": .int(Int64(status.port)), "team": .string(status.teamID), "uplink": .bool(status.uplink),
                "discovery": .string(status.discovery),
                "peers": .array(status.peers.map { peer in
                    [
                        "nodeId": .string(peer.nodeID.rawValue), "uplink": .bool(peer.uplink), "address": .string(peer.address),
                        "direction": .string(peer.direction.rawValue),
                        "linkAgeSeconds": .double(Double(now > peer.since ? now - peer.since : 0) / 1000),
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
                "changesRelayed": .int(Int64(metrics.changesRelayed)), "changesFromPeers": .int(Int64(metrics.changesFromPeers)),
                "framesRejected": .int(Int64(metrics.framesRejected)),
                "changesRefused": .int(Int64(metrics.changesRefused)),
                "slowPeersDropped": .int(Int64(metrics.slowPeersDropped)),
            ],
        ]
    }
}
