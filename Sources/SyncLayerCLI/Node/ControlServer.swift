#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import Logging
import ServiceLifecycle
import SyncLayer
import Synchronization
import SyncCore
import SyncTelemetry

/// A node's control endpoint, on loopback only: what `synclayer … --node URL` talks to.
///
/// `GET /status`; `GET /collections/{c}` (list); `GET|PUT|PATCH|DELETE /collections/{c}/{id}`;
/// `POST /collections/{c}` (save with a new id); `GET /collections/{c}/watch` (one JSON line per result);
/// `GET /metrics` (Prometheus' text format, ``NodeMetrics``);
/// the console: `GET /` (the page), its files (`/console.js`, `/console.css`) and `GET /events`, its
/// live feed (``ConsoleFeed``). Docs/Console.md.
final class ControlServer: Service, Sendable {
    let node: SyncNode
    let port: Int
    /// The node's metrics registry, read by `GET /metrics`.
    let metrics: MetricsRegistry
    let logger: Logger
    private let ready: AsyncStream<Int>
    private let readyContinuation: AsyncStream<Int>.Continuation

    init(node: SyncNode, port: Int, metrics: MetricsRegistry = MetricsRegistry(), logger: Logger) {
        self.node = node
        self.metrics = metrics
        self.port = port
        self.logger = logger
        (ready, readyContinuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
    }

    func waitUntilRunning() async -> Int? {
        for await port in ready { return port }
        return nil
    }

    func run() async throws {
        let router = Router()
        let node = self.node
        router.get("/status") { _, _ in ControlResponse.json(.object(try await NodeStatus.report(node))) }
        let metrics = self.metrics
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: MetricsRegistry.contentType],
                     body: .init(byteBuffer: ByteBuffer(bytes: await NodeMetrics.exposition(node, metrics))))
        }
        router.get("/events") { _, _ in ConsoleFeed(node: node).response() }
        for (name, asset) in ConsoleAssets.byName {
            let response = ControlResponse.asset(asset)
            router.get(RouterPath(name == "index.html" ? "/" : "/\(name)")) { _, _ in response }
        }
        router.get("/collections/{collection}") { _, context in
            let collection = try ControlServer.parameter(context, "collection")
            return ControlResponse.json(.array(try await node.collection(collection).getAll().map(ControlResponse.document)))
        }
        router.get("/collections/{collection}/watch") { _, context in
            let collection = try ControlServer.parameter(context, "collection")
            // Ends on graceful shutdown, or the server would wait for this response forever.
            let lines = node.collection(collection).watch().cancelOnGracefulShutdown().map { documents -> ByteBuffer in
                ByteBuffer(bytes: JSONValue.array(documents.map(ControlResponse.document)).canonicalBytes + [0x0A])
            }
            return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: ResponseBody(asyncSequence: lines))
        }
        router.get("/collections/{collection}/{id}") { _, context in
            let collection = try ControlServer.parameter(context, "collection"), id = try ControlServer.parameter(context, "id")
            guard let document = try await node.collection(collection).get(id) else {
                return ControlResponse.json(["error": "no document \(id) in \(collection)"], status: .notFound)
            }
            return ControlResponse.json(ControlResponse.document(document))
        }
        router.post("/collections/{collection}") { request, context in
            let collection = try ControlServer.parameter(context, "collection")
            let id = try await node.collection(collection).save(try await ControlResponse.body(request))
            return ControlResponse.json(["id": .string(id)])
        }
        router.put("/collections/{collection}/{id}") { request, context in
            let collection = try ControlServer.parameter(context, "collection"), id = try ControlServer.parameter(context, "id")
            try await node.collection(collection).save(try await ControlResponse.body(request), id: id)
            return ControlResponse.json(["id": .string(id)])
        }
        router.patch("/collections/{collection}/{id}") { request, context in
            let collection = try ControlServer.parameter(context, "collection"), id = try ControlServer.parameter(context, "id")
            try await node.collection(collection).update(id, try await ControlResponse.body(request))
            return ControlResponse.json(["id": .string(id)])
        }
        router.delete("/collections/{collection}/{id}") { _, context in
            let collection = try ControlServer.parameter(context, "collection"), id = try ControlServer.parameter(context, "id")
            try await node.collection(collection).delete(id)
            return ControlResponse.json(["id": .string(id)])
        }
        router.middlewares.add(ControlErrorMiddleware())
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "synclayer-node"),
            onServerRunning: { [readyContinuation] channel in readyContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.run()
        readyContinuation.finish()
    }

    /// A path parameter, percent-decoded (clients escape ids and collection names).
    static func parameter(_ context: BasicRequestContext, _ name: String) throws -> String {
        let raw = try context.parameters.require(name)
        return PercentEncoding.decode(raw) ?? raw
    }
}

/// Turns the node's errors into JSON answers with fitting statuses.
struct ControlErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as SyncError {
            let status: HTTPResponse.Status = error.code == .notFound ? .notFound : .badRequest
            return ControlResponse.json(["error": .string(error.description)], status: status)
        } catch let error as ControlResponse.BadBody {
            return ControlResponse.json(["error": .string(error.message)], status: .badRequest)
        }
    }
}

enum ControlResponse {
    struct BadBody: Error {
        let message: String
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.canonicalBytes)))
    }

    /// One of the console's files, compiled in (``ConsoleAssets``).
    static func asset(_ asset: ConsoleAssets.Asset) -> Response {
        Response(status: .ok, headers: [.contentType: asset.contentType, .cacheControl: "no-cache"],
                 body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }

    static func document(_ document: Document) -> JSONValue {
        ["id": .string(document.id), "data": .object(document.data)]
    }

    static func body(_ request: Request) async throws -> JSONObject {
        let buffer = try await request.body.collect(upTo: 4 << 20)
        do {
            return try JSONParser().parseObject(buffer.readableBytesView)
        } catch {
            throw BadBody(message: "the body must be a JSON object: \(error)")
        }
    }
}
