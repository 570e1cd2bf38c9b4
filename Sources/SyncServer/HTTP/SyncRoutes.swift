#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import SyncCore
import SyncStore
import SyncTelemetry

/// The REST API: the original protocol's routes and ours, on the same store as the WebSocket.
struct SyncRoutes: Sendable {
    let store: any ServerStorage
    let hub: ServerHub
    let authority: TokenAuthority
    let limits: ServerLimits
    let codec: FrameCodec

    init(store: any ServerStorage, hub: ServerHub, authority: TokenAuthority, limits: ServerLimits) {
        self.store = store
        self.hub = hub
        self.authority = authority
        self.limits = limits
        self.codec = FrameCodec(maxFrameBytes: limits.maxFrameBytes, maxBatchCount: limits.maxBatchCount)
    }

    func add(to router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in
            JSONResponse.ok(["status": "ok", "serverSeq": .int(Int64(clamping: store.head))])
        }
        // Prometheus' text format; the same counters as a JSON object at /metrics.json.
        router.get("/metrics") { _, _ in
            let state = ServerState(connections: hub.count, head: store.head, clusterHead: (try? await store.clusterHead()) ?? store.head,
                                    subscribers: hub.subscriberCounts(), storeCounters: store.counters)
            return Response(status: .ok, headers: [.contentType: MetricsRegistry.contentType],
                            body: .init(byteBuffer: ByteBuffer(bytes: hub.metrics.exposition(state))))
        }
        router.get("/metrics.json") { _, _ in
            JSONResponse.ok(.object(hub.metrics.snapshot(connections: hub.count, head: store.head)))
        }
        router.get("/sync/_digest") { request, _ in
            await respond(request) { rights in
                guard let collection = request.uri.queryParameters.get("collection").map({ String($0) }),
                      Identifiers.problem(withCollection: collection) == nil else {
                    throw FrameError(.invalidMessage, "give ?collection=NAME")
                }
                guard rights.read.contains(collection) else { throw FrameError(.unauthorized, "no right to read \"\(collection)\"") }
                let digest = try await store.digest(collection: collection)
                return JSONResponse.ok(["collection": .string(collection), "count": .int(Int64(digest.count)), "digest": .string(digest.digest),
                                        "changes": .int(Int64(try await store.changeCount())), "serverSeq": .int(Int64(clamping: store.head)),
                                        "serverId": .string(store.serverID.rawValue)])
            }
        }
        router.post("/sync/_push") { request, _ in await respond(request) { rights in try await push(request, rights) } }
        router.post("/sync/_pull") { request, _ in await respond(request) { rights in try await pull(request, rights) } }
        router.post("/sync/{collection}") { request, context in
            await respond(request) { rights in try await legacyWrite(request, context, rights, kind: .insert) }
        }
        router.patch("/sync/{collection}/{recordId}") { request, context in
            await respond(request) { rights in try await legacyWrite(request, context, rights, kind: .update) }
        }
        router.delete("/sync/{collection}/{recordId}") { request, context in
            await respond(request) { rights in try await legacyWrite(request, context, rights, kind: .delete) }
        }
        router.get("/sync/{collection}") { request, context in
            await respond(request) { rights in try await legacyPull(request, context, rights) }
        }
    }

    /// Authenticates, runs `body`, and maps errors to the original codes and HTTP statuses.
    private func respond(_ request: Request, _ body: (TokenRights) async throws -> Response) async -> Response {
        hub.metrics.framesReceived.add(1, ordering: .relaxed)
        guard let rights = authority.rights(for: JSONResponse.token(request)) else {
            hub.metrics.authFailures.add(1, ordering: .relaxed)
            return JSONResponse.error(FrameError(.authFailed, "missing or invalid bearer token"), status: .unauthorized)
        }
        do {
            return try await body(rights)
        } catch let error as FrameError {
            hub.metrics.framesRejected.add(1, ordering: .relaxed)
            let status: HTTPResponse.Status = switch error.code {
            case .unauthorized: .forbidden
            case .tooLarge: .contentTooLarge
            case .recordNotFound, .collectionNotFound: .notFound
            case .rateLimitExceeded: .tooManyRequests
            default: .badRequest
            }
            return JSONResponse.error(error, status: status)
        } catch let error as StoreError {
            hub.metrics.framesRejected.add(1, ordering: .relaxed)
            return JSONResponse.error(FrameError(.invalidMessage, error.message), status: .badRequest)
        } catch {
            return JSONResponse.error(FrameError(.serverError, "the server failed; retry"), status: .internalServerError)
        }
    }

    // MARK: Ours

    private func push(_ request: Request, _ rights: TokenRights) async throws -> Response {
        let push = try PushRequest(body: await JSONResponse.body(request, limit: limits.maxFrameBytes), maxBatchCount: limits.maxBatchCount)
        var changes: [Change] = []
        var rejected: [ChangeID: FrameError] = [:]
        let held = store.heldVector
        let signed = push.signature.map { [(messages: 0..<push.changes.count, proof: FrameProof.signature($0))] } ?? []
        let vouched = limits.signatures.vouched(push.changes, by: signed, holding: held, counting: hub.metrics)
        for change in push.changes {
            if !rights.write.contains(change.collection) {
                rejected[change.id] = FrameError(.unauthorized, "no right to write \"\(change.collection)\"")
            } else if vouched.contains(change.id) {
                changes.append(change)
            } else if let refusal = limits.signatures.refusal(of: change, holding: held, counting: hub.metrics) {
                rejected[change.id] = refusal
            } else {
                changes.append(change)
            }
        }
        var committed: [ChangeID: UInt64] = [:]
        for (id, outcome) in try await store.commit(changes) {
            switch outcome {
            case .committed(let serverSeq, let duplicate):
                committed[id] = serverSeq
                if duplicate {
                    hub.metrics.duplicatesDropped.add(1, ordering: .relaxed)
                } else {
                    hub.metrics.changesCommitted.add(1, ordering: .relaxed)
                }
            case .rejected(let error):
                rejected[id] = error
            }
        }
        hub.metrics.changesRejected.add(rejected.count, ordering: .relaxed)
        let ack = FrameCodec.object(for: .ack(Ack(committed: committed, rejected: rejected)))
        return JSONResponse.ok(ack["data"] ?? [:])
    }

    private func pull(_ request: Request, _ rights: TokenRights) async throws -> Response {
        let pull = try PullRequest(body: await JSONResponse.body(request, limit: limits.maxFrameBytes))
        if let name = pull.collections.first(where: { !rights.read.contains($0) }) {
            throw FrameError(.unauthorized, "no right to read \"\(name)\"")
        }
        let cursor = pull.cursorOwner == store.serverID ? pull.cursor : 0
        let page = try await store.changes(after: cursor, collections: Set(pull.collections), skipping: pull.vector, limit: pull.limit)
        let changes: [JSONValue] = page.messages(signedBy: store.identity.signer).map { .object(FrameCodec.object(for: .change($0))) }
        return JSONResponse.ok(["changes": .array(changes), "cursor": .int(Int64(clamping: page.cursor)), "more": .bool(page.more),
                                "vector": try await store.vector().jsonValue, "serverId": .string(store.serverID.rawValue)])
    }

    // MARK: The original protocol

    private func legacyWrite(_ request: Request, _ context: BasicRequestContext, _ rights: TokenRights, kind: Change.Kind) async throws -> Response {
        let collection = try context.parameters.require("collection")
        if let problem = Identifiers.problem(withCollection: collection) { throw FrameError(.invalidMessage, problem) }
        guard rights.write.contains(collection) else { throw FrameError(.unauthorized, "no right to write \"\(collection)\"") }
        let recordID: String
        var fields: JSONObject = [:]
        switch kind {
        case .insert:
            let insert = try LegacyInsertRequest(body: await JSONResponse.body(request, limit: limits.maxFrameBytes))
            recordID = insert.recordID
            fields = insert.data
        case .update:
            recordID = try context.parameters.require("recordId")
            fields = try LegacyUpdateRequest(body: await JSONResponse.body(request, limit: limits.maxFrameBytes)).delta
        case .delete:
            recordID = try context.parameters.require("recordId")
        }
        if let problem = Identifiers.problem(withRecordID: recordID) { throw FrameError(.invalidMessage, problem) }
        let committed = try await store.commitLegacy([LegacyWrite(kind: kind, collection: collection, recordID: recordID, fields: fields)])
        hub.metrics.changesCommitted.add(committed.count, ordering: .relaxed)
        return JSONResponse.ok(["recordId": .string(recordID), "version": .int(Int64(clamping: committed.first?.serverSeq ?? 0))])
    }

    private func legacyPull(_ request: Request, _ context: BasicRequestContext, _ rights: TokenRights) async throws -> Response {
        let collection = try context.parameters.require("collection")
        if let problem = Identifiers.problem(withCollection: collection) { throw FrameError(.invalidMessage, problem) }
        guard rights.read.contains(collection) else { throw FrameError(.unauthorized, "no right to read \"\(collection)\"") }
        let query = request.uri.queryParameters
        let pull = LegacyPullQuery(since: query.get("since").map { String($0) }, limit: query.get("limit").map { String($0) },
                                   offset: query.get("offset").map { String($0) })
        let records = try await store.records(collection: collection, since: pull.since, limit: pull.limit, offset: pull.offset)
        let list: [JSONValue] = records.map { record in
            ["recordId": .string(record.id), "data": .object(record.data), "updatedAt": .string(ISO8601.string(fromMillis: record.updatedAt)),
             "version": .int(Int64(clamping: record.version))]
        }
        return JSONResponse.ok(["records": .array(list)])
    }
}
