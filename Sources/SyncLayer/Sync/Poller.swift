import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOHTTP1
import SyncCore

/// HTTP polling: pulls what changed since the node's cursor and pushes the outbox. It runs once at
/// start, every `syncInterval` while the realtime link is down, and whenever a realtime link to a
/// backend of the original protocol asks for it (that backend takes writes over REST only).
/// Against a backend of the original protocol it uses that protocol's REST routes.
final class Poller: Sendable {
    let engine: SyncEngine
    let configuration: SyncConfiguration
    let logger: Logger
    let client: HTTPClient

    init(engine: SyncEngine, configuration: SyncConfiguration, client: HTTPClient, logger: Logger) {
        self.engine = engine
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    /// Polls at start, then on demand, and every `syncInterval` while the link is not up, the last
    /// poll failed, or the server is a backend of the original protocol.
    /// - With our server and the link up, polls come on demand only: the session sends the outbox
    ///   and the server's acks and catch-up keep the node complete.
    /// - A failed poll (a connection reset, a 503) is retried even if no further change comes to
    ///   ask for one, or the outbox waits.
    /// - While the link is connecting, our server is not polled: the session is about to send the
    ///   outbox, and a push now would send it a second time (a dial bounded by the upgrade
    ///   deadline, after which the link is down and polls resume).
    /// - A backend of the original protocol only broadcasts on its WebSocket, with no catch-up and
    ///   no acknowledgement: a broadcast the node missed (a reconnect, a frame lost on the way) is
    ///   recovered only by a pull, so the node pulls on the interval while linked too.
    func run(link: @escaping @Sendable () -> LinkState) async {
        var failed = await !pollOnce()
        while !Task.isCancelled {
            let asked = await engine.pollNow.wait(timeout: configuration.syncInterval)
            if Task.isCancelled { return }
            let state = link()
            if engine.speaksOriginalProtocol || (state != .connecting && (asked || failed || state != .connected)) {
                failed = await !pollOnce()
            }
        }
    }

    /// One push and pull; reports the outcome in events and metrics.
    @discardableResult
    func pollOnce() async -> Bool {
        let started = engine.wallClock.nowMillis()
        engine.metrics.update { $0.syncAttempts += 1 }
        engine.emit(.syncStarted)
        do {
            // Pull first: pending local changes then meet what the server already has while they are
            // still pending, which is what conflict strategies act on.
            if !engine.speaksOriginalProtocol {
                try await pull()
            } else if !engine.originalBackend.pullRefused {
                // Taken for the original protocol by the WebSocket: ask our route first (a slow server of
                // ours answers it). No answer at all means no REST on that host.
                do {
                    try await pull()
                } catch let error as PollError {
                    throw error
                } catch {
                    throw RESTAbsent(reason: "\(error)")
                }
            }
            if engine.speaksOriginalProtocol {
                // A backend with a WebSocket only throws RESTAbsent here: the session syncs on its own.
                try await legacyPull()
                try await legacyPush()
                engine.noteREST(available: true, reason: "")
            } else {
                try await push()
            }
            let finished = engine.wallClock.nowMillis()
            engine.metrics.update {
                $0.successfulSyncs += 1
                $0.totalSyncMillis += finished &- started
                $0.lastSyncTime = finished
            }
            engine.emit(.syncCompleted, metadata: ["durationMs": .int(Int64(clamping: finished &- started))])
            return true
        } catch let absent as RESTAbsent {
            engine.noteREST(available: false, reason: absent.reason)
            // Not a failure: the backend has a WebSocket only, and the realtime session syncs over it
            // (said once, by noteREST). Tried again on the interval, in case REST appears.
            return true
        } catch {
            engine.metrics.update { $0.failedSyncs += 1 }
            engine.metrics.recordError("poll: \(error)")
            engine.emit(.syncFailed, error: "\(error)")
            logger.debug("poll failed", metadata: ["synclayer.error": "\(error)"])
            return false
        }
    }

    // MARK: Ours

    private func push() async throws {
        while true {
            let outbox = engine.uploadPolicy.overREST(try await engine.outbox(limit: 500), sessionLive: engine.hasLiveSession)
            guard !outbox.isEmpty else { return }
            let signer = engine.signer
            let changes = outbox.map { signer.signingOwn($0) }
            let push = PushRequest(changes: changes, signature: signer.frameSignature(for: changes))
            let (status, reply) = try await request(.POST, "/sync/_push", body: push.body)
            guard status == 200, let reply else { throw PollError(status: status, reply: reply) }
            let ack = try FrameCodec().decode(object: ["type": "ack", "data": .object(reply)])
            guard case .ack(let decoded) = ack else { throw PollError(status: status, reply: reply) }
            try await engine.acknowledge(decoded, server: nil)
            if outbox.count < 500 { return }
        }
    }

    /// Whether the backend is a server of ours, asked of `POST /sync/_pull` (one change at most,
    /// not applied), for a realtime session whose backend sent nothing (``RealtimeSession``):
    /// `.pullAnswered` when it answered with a server id, `.pullNotOurs` when it answered otherwise
    /// (another status, another body); `nil` when it did not answer within 5 s, refused the token or
    /// failed, which tells nothing.
    func probeDialect() async -> DialectEvidence? {
        guard let answer = try? await requestPull(limit: 1, timeout: .seconds(5)) else { return nil }
        return answer.server == nil ? .pullNotOurs : .pullAnswered
    }

    /// One `POST /sync/_pull` from the node's position, and the server id it answered with: `nil`
    /// when it answered, but not as a server of ours does. Throws ``PollError`` for an answer that
    /// tells nothing (401, 403, 5xx), and what the request threw.
    private func requestPull(limit: Int, timeout: TimeAmount = .seconds(30))
        async throws -> (status: Int, reply: JSONObject?, server: NodeID?, owner: NodeID?) {
        let position = try await engine.serverPosition()
        let pull = PullRequest(cursorOwner: position.server, cursor: position.cursor, vector: try await engine.vector(), limit: limit,
                               collections: configuration.collections)
        let (status, reply) = try await request(.POST, "/sync/_pull", body: pull.body, timeout: timeout)
        if status == 401 || status == 403 || status >= 500 { throw PollError(status: status, reply: reply) }
        let server = status == 200 ? reply?["serverId"]?.stringValue.flatMap(NodeID.init) : nil
        return (status, reply, server, position.server)
    }

    private func pull() async throws {
        while true {
            let (status, reply, answered, owner) = try await requestPull(limit: 500)
            guard let reply, let server = answered else {
                // Not our server: a backend of the original protocol (its POST /sync/{collection}
                // route answers, or nothing does). Speak its protocol from now on.
                engine.learnDialect(.pullNotOurs)
                return
            }
            engine.learnDialect(.pullAnswered)
            if server != owner { try await engine.rememberServer(server) }
            var messages: [ChangeMessage] = []
            for item in reply["changes"]?.arrayValue ?? [] {
                guard let object = item.objectValue else { throw PollError(status: status, reply: reply) }
                messages.append(try FrameCodec.changeMessage(from: object))
            }
            let next = UInt64(max(0, reply["cursor"]?.intValue ?? 0))
            try await engine.applyFromServer(messages, cursor: next, server: server, realtime: false)
            if reply["more"]?.boolValue != true { return }
        }
    }

    // MARK: The original protocol

    /// Writes the outbox through the original protocol's REST routes: per record, its current state
    /// (``SyncEngine/originalWrites(for:)``); a 2xx confirms the changes it stands for. Changes a
    /// realtime session has in flight are left to it.
    private func legacyPush() async throws {
        // What a realtime session has in flight goes by the WebSocket alone (OriginalDelivery).
        let outbox = engine.notInFlightOverWebSocket(try await engine.outbox(limit: 500))
        var settled: [ChangeID: UInt64] = [:]
        do {
            try await push(engine.originalWrites(for: outbox), settled: &settled)
        } catch {
            // What was confirmed before the failure leaves the outbox all the same.
            if !settled.isEmpty { try await engine.acknowledge(Ack(committed: settled), server: nil) }
            throw error
        }
        try await engine.acknowledge(Ack(committed: settled), server: nil)
    }

    private func push(_ writes: [OriginalWrite], settled: inout [ChangeID: UInt64]) async throws {
        for write in writes {
            let timestamp = JSONValue.string(ISO8601.string(fromMillis: write.millis))
            let collection = PercentEncoding.encode(write.collection)
            let record = PercentEncoding.encode(write.recordID)
            let status: Int
            switch write.kind {
            case .insert:
                status = try await legacyRequest(.POST, "/sync/\(collection)",
                                                 body: ["recordId": .string(write.recordID), "data": .object(write.fields), "timestamp": timestamp]).0
            case .update:
                status = try await legacyRequest(.PATCH, "/sync/\(collection)/\(record)",
                                                 body: ["delta": .object(write.fields), "baseVersion": 0, "timestamp": timestamp]).0
            case .delete:
                status = try await legacyRequest(.DELETE, "/sync/\(collection)/\(record)", body: nil).0
            }
            guard (200..<300).contains(status) else { throw PollError(status: status, reply: nil) }
            for change in write.covers { settled[change.id] = 0 }
        }
    }

    private func legacyPull() async throws {
        for collection in configuration.collections {
            let since = try await engine.legacyCursor(collection: collection)
            var offset = 0
            var newest = since
            while true {
                let query = "since=\(ISO8601.string(fromMillis: since))&limit=100&offset=\(offset)"
                let (status, reply) = try await legacyRequest(.GET, "/sync/\(collection)?\(query)", body: nil)
                guard status == 200, let records = reply?["records"]?.arrayValue else { throw PollError(status: status, reply: reply) }
                var messages: [ChangeMessage] = []
                for record in records {
                    guard let id = record["recordId"]?.stringValue ?? record["id"]?.stringValue, let data = record["data"]?.objectValue else { continue }
                    let updatedAt = record["updatedAt"]?.stringValue
                    if let millis = updatedAt.flatMap({ ISO8601.millis(from: $0) }) { newest = max(newest, millis) }
                    messages.append(ChangeMessage(kind: .insert, collection: collection, recordID: id, data: data, timestamp: updatedAt, metadata: [:]))
                }
                try await engine.applyLegacy(messages, realtime: false)
                if records.count < 100 { break }
                offset += records.count
            }
            try await engine.advanceLegacyCursor(collection: collection, to: newest)
        }
    }

    // MARK: HTTP

    /// A request of the original protocol's REST routes, where a backend without them answers with
    /// a status that says so or not at all: that throws ``RESTAbsent``.
    private func legacyRequest(_ method: HTTPMethod, _ path: String, body: JSONObject?) async throws -> (Int, JSONObject?) {
        let answer: (Int, JSONObject?)
        do {
            answer = try await request(method, path, body: body)
        } catch {
            throw RESTAbsent(reason: "\(error)")
        }
        if [404, 405, 426, 501].contains(answer.0) { throw RESTAbsent(reason: "HTTP \(answer.0)") }
        return answer
    }

    private func request(_ method: HTTPMethod, _ path: String, body: JSONObject?,
                         timeout: TimeAmount = .seconds(30)) async throws -> (Int, JSONObject?) {
        guard let baseURL = engine.servers.current else { throw PollError(status: 0, reply: nil) }
        do {
            return try await send(method, to: baseURL + path, body: body, timeout: timeout)
        } catch {
            // Refused, reset or timed out: the next instance, if there is one, for the next request.
            engine.servers.failed(baseURL)
            throw error
        }
    }

    private func send(_ method: HTTPMethod, to url: String, body: JSONObject?, timeout: TimeAmount) async throws -> (Int, JSONObject?) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token = configuration.authToken { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(bytes: JSONValue.object(body).canonicalBytes)) }
        let response = try await client.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let json = try? JSONParser(limits: .init(maxBytes: 64 << 20, maxDepth: 48)).parseObject(bytes.readableBytesView)
        return (Int(response.status.code), json)
    }
}

/// The backend's REST routes of the original protocol are not there: refused, reset, or answered
/// 404, 405, 426 or 501.
struct RESTAbsent: Error, CustomStringConvertible {
    let reason: String
    var description: String { "no REST routes: \(reason)" }
}

/// A poll got an answer it could not use.
struct PollError: Error, CustomStringConvertible {
    let status: Int
    let reply: JSONObject?
    var description: String {
        "HTTP \(status)" + (reply?["error"]?.stringValue.map { ": \($0)" } ?? "")
    }
}
