import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import SyncCore
import SyncTesting

/// A backend written from the original SDK's documents alone (`shared/seeds/001` "Backend
/// Requirements" and `002` "Backend Setup"), in the shapes users write from them: a WebSocket
/// endpoint at `/ws?token=…` that takes `subscribe`, stores `insert`/`update`/`delete` (an update
/// merges its fields) and broadcasts each to the collection's other subscribers with the server's
/// timestamp and `metadata {version, userId}`, and ignores message types it does not know. Each
/// ``Shape`` option is one of the documented choices. Nothing here comes from our server's code.
final class DocumentedBackend: Sendable {
    struct Shape: Sendable {
        /// Answers `{"type":"ping"}` with `{"type":"pong"}`.
        var answersPing = true
        /// Confirms subscriptions with `subscribed`.
        var confirmsSubscriptions = false
        /// Has the REST routes (`POST/PATCH/DELETE/GET /sync/...`).
        var rest = false
        /// Wants `{"type":"auth","token":…}` as the first message: anything else is answered with
        /// `error UNAUTHORIZED` and the connection closed.
        var authToken: String?
        /// Closes a connection that sent no `ping` for this long (the documents say 60 s).
        var closeWithoutPingAfter: Duration?
        /// Answers a message type it does not know with `error INVALID_MESSAGE` instead of ignoring it.
        var refusesUnknownTypes = false
    }

    struct Record: Sendable, Equatable {
        var data: JSONObject
        var version: Int64
        var updatedAt: UInt64
    }

    struct State: Sendable {
        var records: [String: [String: Record]] = [:]
        var version: Int64 = 0
        var connections: [Int: (collections: Set<String>, send: @Sendable (String) -> Void)] = [:]
        /// Every write frame received, as received.
        var writes: [JSONObject] = []
        var pingsReceived = 0
        var connectionsClosedForSilence = 0
        var connectionsOpened = 0
        /// REST writes still to answer 503 without storing them (``failNextWrites(_:)``).
        var writesToFail = 0
        /// Writes still to store without broadcasting them (``silenceNextBroadcasts(_:)``).
        var broadcastsToDrop = 0
        /// WebSocket writes are answered `error AUTH_FAILED` and not stored (``refuseWrites(_:)``).
        var refusingWrites = false
        var writesRefused = 0
        /// Told the count of writes refused, at each refusal (``refusals()``).
        var refusalWatcher: AsyncStream<Int>.Continuation?
    }

    let shape: Shape
    private let app: LoopbackApp
    let state: Locked<State>

    var port: Int { app.port }
    var webSocketURL: String { "ws://127.0.0.1:\(port)/ws" }

    private init(shape: Shape, app: LoopbackApp, state: Locked<State>) {
        self.shape = shape
        self.app = app
        self.state = state
    }

    /// The next `count` REST writes are answered 503 and not stored, like a backend that restarts.
    func failNextWrites(_ count: Int) {
        state.withLock { $0.writesToFail = count }
    }

    /// The next `count` writes are stored but not broadcast, like broadcasts lost on the way.
    func silenceNextBroadcasts(_ count: Int) {
        state.withLock { $0.broadcastsToDrop = count }
    }

    /// While `on`, writes on the WebSocket are refused with `error AUTH_FAILED` and not stored, and
    /// pings are still answered: a backend whose token for this node was revoked.
    func refuseWrites(_ on: Bool) {
        state.withLock { $0.refusingWrites = on }
    }

    /// The count of writes refused so far, after each refusal from now on.
    func refusals() -> AsyncStream<Int> {
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        state.withLock { $0.refusalWatcher = continuation }
        return stream
    }

    static func start(_ shape: Shape) async throws -> DocumentedBackend {
        let state = Locked(State())
        let now: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }
        // Stores a write and returns the broadcast frame.
        let store: @Sendable (String, String, String, JSONObject) -> String? = { type, collection, id, data in
            state.withLock { state in
                state.version += 1
                switch type {
                case "insert": state.records[collection, default: [:]][id] = Record(data: data, version: state.version, updatedAt: now())
                case "update":
                    var record = state.records[collection]?[id] ?? Record(data: [:], version: 0, updatedAt: 0)
                    record.data.merge(data) { _, new in new }
                    record.version = state.version
                    record.updatedAt = now()
                    state.records[collection, default: [:]][id] = record
                case "delete": state.records[collection]?[id] = nil
                default: return nil
                }
                var frame: JSONObject = ["type": .string(type), "collection": .string(collection), "recordId": .string(id),
                                         "timestamp": .string(ISO8601.string(fromMillis: now())),
                                         "metadata": ["version": .int(state.version), "userId": "user123"]]
                if type != "delete" { frame["data"] = .object(data) }
                return JSONValue.object(frame).canonicalString
            }
        }
        let broadcast: @Sendable (String, String, Int) -> Void = { text, collection, sender in
            let targets = state.withLock { state -> [@Sendable (String) -> Void] in
                if state.broadcastsToDrop > 0 {
                    state.broadcastsToDrop -= 1
                    return []
                }
                return state.connections.filter { $0.key != sender && $0.value.collections.contains(collection) }.map(\.value.send)
            }
            for send in targets { send(text) }
        }
        // Whether this REST write is to be failed (failNextWrites).
        let failing: @Sendable () -> Bool = {
            state.withLock { state in
                guard state.writesToFail > 0 else { return false }
                state.writesToFail -= 1
                return true
            }
        }
        let router = Router()
        if shape.rest {
            router.post("/sync/{collection}") { request, context in
                if failing() { return Response(status: .serviceUnavailable) }
                let collection = try context.parameters.require("collection")
                let body = try JSONParser().parseObject(try await request.body.collect(upTo: 1 << 20).readableBytesView)
                guard let id = body["recordId"]?.stringValue, let data = body["data"]?.objectValue else { return Response(status: .badRequest) }
                if let text = store("insert", collection, id, data) { broadcast(text, collection, -1) }
                return Response(status: .ok)
            }
            router.patch("/sync/{collection}/{id}") { request, context in
                if failing() { return Response(status: .serviceUnavailable) }
                let collection = try context.parameters.require("collection")
                let body = try JSONParser().parseObject(try await request.body.collect(upTo: 1 << 20).readableBytesView)
                if let text = store("update", collection, try context.parameters.require("id"), body["delta"]?.objectValue ?? [:]) {
                    broadcast(text, collection, -1)
                }
                return Response(status: .ok)
            }
            router.delete("/sync/{collection}/{id}") { _, context in
                if failing() { return Response(status: .serviceUnavailable) }
                let collection = try context.parameters.require("collection")
                if let text = store("delete", collection, try context.parameters.require("id"), [:]) { broadcast(text, collection, -1) }
                return Response(status: .ok)
            }
            router.get("/sync/{collection}") { request, context in
                let collection = try context.parameters.require("collection")
                let since = request.uri.queryParameters.get("since").flatMap { ISO8601.millis(from: String($0)) } ?? 0
                let offset = request.uri.queryParameters.get("offset").flatMap { Int(String($0)) } ?? 0
                let limit = request.uri.queryParameters.get("limit").flatMap { Int(String($0)) } ?? 100
                let records = state.withLock { ($0.records[collection] ?? [:]).filter { $0.value.updatedAt > since } }
                    .sorted { $0.value.version < $1.value.version }
                let page: [JSONValue] = records.dropFirst(offset).prefix(limit).map { id, record in
                    ["recordId": .string(id), "data": .object(record.data), "updatedAt": .string(ISO8601.string(fromMillis: record.updatedAt)),
                     "version": .int(record.version)]
                }
                return Response(status: .ok, headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.object(["records": .array(page)]).canonicalBytes)))
            }
        }
        var logger = Logger(label: "test.documented-backend")
        logger.logLevel = .critical
        let app = try await LoopbackApp.start(name: "a backend of the documents", logger: logger, shutdownLimit: .seconds(3)) { configuration, onServerRunning in
            Application(
                router: router,
                server: .http1WebSocketUpgrade(configuration: .init(http1: .init(), ws: .init(maxFrameSize: 1 << 20))) { request, _, _ in
                    guard request.path?.hasPrefix("/ws") == true else { return .dontUpgrade }
                    return .upgrade([:]) { inbound, outbound, _ in
                        try await serve(inbound: inbound, outbound: outbound, shape: shape, state: state, store: store, broadcast: broadcast)
                    }
                },
                configuration: configuration,
                onServerRunning: onServerRunning,
                logger: logger)
        }
        return DocumentedBackend(shape: shape, app: app, state: state)
    }

    /// One connection, as the documents describe it.
    private static func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, shape: Shape, state: Locked<State>,
                              store: @escaping @Sendable (String, String, String, JSONObject) -> String?,
                              broadcast: @escaping @Sendable (String, String, Int) -> Void) async throws {
        let id = state.withLock { state -> Int in
            state.connectionsOpened += 1
            return state.connectionsOpened
        }
        let (outgoing, sink) = AsyncStream.makeStream(of: String.self)
        state.withLock { $0.connections[id] = ([], { sink.yield($0) }) }
        defer { _ = state.withLock { $0.connections.removeValue(forKey: id) } }
        let lastPing = Locked(Date())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await text in outgoing { try await outbound.write(.text(text)) }
                try await outbound.close(.normalClosure, reason: nil)
            }
            if let limit = shape.closeWithoutPingAfter {
                group.addTask {
                    while true {
                        try await Task.sleep(for: limit / 10)
                        if Date().timeIntervalSince(lastPing.withLock { $0 }) > Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18 {
                            state.withLock { $0.connectionsClosedForSilence += 1 }
                            sink.finish()
                            return
                        }
                    }
                }
            }
            group.addTask {
                defer { sink.finish() }
                var authenticated = shape.authToken == nil
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message, let frame = try? JSONParser().parseObject(Array(text.utf8)),
                          let type = frame["type"]?.stringValue else { continue }
                    if !authenticated {
                        guard type == "auth", frame["token"]?.stringValue == shape.authToken else {
                            sink.yield(#"{"type":"error","error":"authenticate first","code":"UNAUTHORIZED"}"#)
                            return
                        }
                        authenticated = true
                        sink.yield(#"{"type":"authenticated"}"#)
                        continue
                    }
                    let collection = frame["collection"]?.stringValue ?? ""
                    switch type {
                    case "subscribe":
                        _ = state.withLock { $0.connections[id]?.collections.insert(collection) }
                        if shape.confirmsSubscriptions {
                            sink.yield(JSONValue.object(["type": "subscribed", "collection": .string(collection)]).canonicalString)
                        }
                    case "unsubscribe":
                        _ = state.withLock { $0.connections[id]?.collections.remove(collection) }
                    case "insert", "update", "delete":
                        guard let record = frame["recordId"]?.stringValue else { continue }
                        let refused = state.withLock { state -> Bool in
                            guard state.refusingWrites else { return false }
                            state.writesRefused += 1
                            state.refusalWatcher?.yield(state.writesRefused)
                            return true
                        }
                        if refused {
                            sink.yield(#"{"type":"error","error":"token revoked","code":"AUTH_FAILED"}"#)
                            continue
                        }
                        state.withLock { $0.writes.append(frame) }
                        if let text = store(type, collection, record, frame["data"]?.objectValue ?? [:]) { broadcast(text, collection, id) }
                    case "ping":
                        lastPing.withLock { $0 = Date() }
                        state.withLock { $0.pingsReceived += 1 }
                        if shape.answersPing { sink.yield(#"{"type":"pong"}"#) }
                    default:
                        if shape.refusesUnknownTypes {
                            sink.yield(#"{"type":"error","error":"unknown message type","code":"INVALID_MESSAGE"}"#)
                        }
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    func stop() async {
        await app.stop()
    }
}
