import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ServiceLifecycle
import SyncCore

/// A backend that implements only the original SDK's documented protocol, like its sample servers:
/// documents in memory; `subscribe`/`insert`/`update`/`delete`/`ping` over WebSocket, each change
/// broadcast to the other subscribers with the server's timestamp and `metadata {version, userId}`
/// (the sender's metadata is not kept); `POST/PATCH/DELETE/GET /sync/…`; anything else is refused
/// with `error INVALID_MESSAGE`. Our node must work against it.
package final class LegacyBackend: Sendable {
    struct Record: Sendable {
        var data: JSONObject
        var updatedAt: UInt64
        var version: Int64
    }

    struct State: Sendable {
        var records: [String: [String: Record]] = [:]
        var version: Int64 = 0
        var subscribers: [UInt64: (collections: Set<String>, send: @Sendable (String) -> Void)] = [:]
    }

    private let app: LoopbackApp
    private let failures: Locked<Int>
    private let silences: Locked<Int>

    /// The port it listens on.
    package var port: Int { app.port }

    private init(app: LoopbackApp, failures: Locked<Int>, silences: Locked<Int>) {
        self.app = app
        self.failures = failures
        self.silences = silences
    }

    /// The next `count` writes are stored but not broadcast, like broadcasts lost on the way.
    package func silenceNextBroadcasts(_ count: Int) {
        silences.withLock { $0 = count }
    }

    /// The next `count` REST writes (POST, PATCH, DELETE) are answered 503 and not stored, like a
    /// backend that restarts or a proxy in front of it that hiccups.
    package func failNextWrites(_ count: Int) {
        failures.withLock { $0 = count }
    }

    /// Starts a backend on a free loopback port.
    package static func start() async throws -> LegacyBackend {
        let state = Locked(State())
        let failures = Locked(0)
        let silences = Locked(0)
        // Whether this write is to be failed (`failNextWrites`).
        let failing: @Sendable () -> Bool = { takeOne(from: failures) }
        let router = Router()
        let now: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }
        let write: @Sendable (String, String, Change.Kind, JSONObject, UInt64?) -> (JSONObject, Int64) = { collection, id, kind, fields, sender in
            state.withLock { state in
                state.version += 1
                switch kind {
                case .insert: state.records[collection, default: [:]][id] = Record(data: fields, updatedAt: now(), version: state.version)
                case .update:
                    var record = state.records[collection]?[id] ?? Record(data: [:], updatedAt: 0, version: 0)
                    record.data.merge(fields) { _, new in new }
                    record.updatedAt = now()
                    record.version = state.version
                    state.records[collection, default: [:]][id] = record
                case .delete: state.records[collection]?[id] = nil
                }
                var frame: JSONObject = ["type": .string(kind.rawValue), "collection": .string(collection), "recordId": .string(id),
                                         "timestamp": .string(ISO8601.string(fromMillis: now())),
                                         "metadata": ["version": .int(state.version), "userId": "user"]]
                if kind != .delete { frame["data"] = .object(fields) }
                let text = JSONValue.object(frame).canonicalString
                let silent = takeOne(from: silences)
                for (subscriber, entry) in state.subscribers where !silent && subscriber != sender && entry.collections.contains(collection) {
                    entry.send(text)
                }
                return (frame, state.version)
            }
        }
        router.post("/sync/{collection}") { request, context in
            if failing() { return Response(status: .serviceUnavailable) }
            let collection = try context.parameters.require("collection")
            let body = try JSONParser().parseObject(try await request.body.collect(upTo: 1 << 20).readableBytesView)
            guard let id = body["recordId"]?.stringValue, let data = body["data"]?.objectValue else { return Response(status: .badRequest) }
            _ = write(collection, id, .insert, data, nil)
            return Response(status: .ok)
        }
        router.patch("/sync/{collection}/{id}") { request, context in
            if failing() { return Response(status: .serviceUnavailable) }
            let body = try JSONParser().parseObject(try await request.body.collect(upTo: 1 << 20).readableBytesView)
            _ = write(try context.parameters.require("collection"), try context.parameters.require("id"), .update, body["delta"]?.objectValue ?? [:], nil)
            return Response(status: .ok)
        }
        router.delete("/sync/{collection}/{id}") { _, context in
            if failing() { return Response(status: .serviceUnavailable) }
            _ = write(try context.parameters.require("collection"), try context.parameters.require("id"), .delete, [:], nil)
            return Response(status: .ok)
        }
        router.get("/sync/{collection}") { request, context in
            let collection = try context.parameters.require("collection")
            let since = request.uri.queryParameters.get("since").flatMap { ISO8601.millis(from: String($0)) } ?? 0
            let offset = request.uri.queryParameters.get("offset").flatMap { Int(String($0)) } ?? 0
            let limit = request.uri.queryParameters.get("limit").flatMap { Int(String($0)) } ?? 100
            let records = state.withLock { state in
                (state.records[collection] ?? [:]).filter { $0.value.updatedAt > since }.sorted { $0.value.version < $1.value.version }
            }
            let page: [JSONValue] = records.dropFirst(offset).prefix(limit).map { id, record in
                ["recordId": .string(id), "data": .object(record.data), "updatedAt": .string(ISO8601.string(fromMillis: record.updatedAt)),
                 "version": .int(record.version)]
            }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(["records": .array(page)]).canonicalBytes)))
        }
        let nextID = Locked<UInt64>(1)
        var logger = Logger(label: "test.legacy-backend")
        logger.logLevel = .critical
        let app = try await LoopbackApp.start(name: "the legacy backend", logger: logger, shutdownLimit: .seconds(3)) { configuration, onServerRunning in
            Application(
                router: router,
                server: .http1WebSocketUpgrade(configuration: .init(http1: .init(), ws: .init(maxFrameSize: 1 << 20))) { request, _, _ in
                    guard request.path?.hasPrefix("/ws") == true else { return .dontUpgrade }
                    return .upgrade([:]) { inbound, outbound, _ in
                        let id = nextID.withLock { next -> UInt64 in
                            defer { next += 1 }
                            return next
                        }
                        let (outgoing, sink) = AsyncStream.makeStream(of: String.self)
                        state.withLock { $0.subscribers[id] = ([], { text in sink.yield(text) }) }
                        defer { _ = state.withLock { $0.subscribers.removeValue(forKey: id) } }
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask { for await text in outgoing { try await outbound.write(.text(text)) } }
                            group.addTask {
                                defer { sink.finish() }
                                for try await message in inbound.messages(maxSize: 1 << 20) {
                                    guard case .text(let text) = message, let frame = try? JSONParser().parseObject(Array(text.utf8)),
                                          let type = frame["type"]?.stringValue else { continue }
                                    let collection = frame["collection"]?.stringValue ?? ""
                                    switch type {
                                    case "subscribe":
                                        _ = state.withLock { $0.subscribers[id]?.collections.insert(collection) }
                                        sink.yield(JSONValue.object(["type": "subscribed", "collection": .string(collection)]).canonicalString)
                                    case "insert", "update", "delete":
                                        guard let record = frame["recordId"]?.stringValue, let kind = Change.Kind(rawValue: type) else { continue }
                                        _ = write(collection, record, kind, frame["data"]?.objectValue ?? [:], id)
                                    case "ping":
                                        sink.yield(#"{"type":"pong"}"#)
                                    default:
                                        sink.yield(#"{"type":"error","error":"unknown message type","code":"INVALID_MESSAGE"}"#)
                                    }
                                }
                            }
                            try await group.next()
                            group.cancelAll()
                        }
                    }
                },
                configuration: configuration,
                onServerRunning: onServerRunning,
                logger: logger)
        }
        return LegacyBackend(app: app, failures: failures, silences: silences)
    }

    /// Stops the backend.
    package func stop() async {
        await app.stop()
    }
}

/// Counts one down from `counter` (set by `failNextWrites` or `silenceNextBroadcasts`); `false`
/// once it reached zero.
private func takeOne(from counter: Locked<Int>) -> Bool {
    counter.withLock { left in
        guard left > 0 else { return false }
        left -= 1
        return true
    }
}
