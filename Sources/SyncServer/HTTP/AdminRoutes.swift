import HTTPTypes
import Hummingbird
import SyncCore
import SyncStore

/// The server console: `GET /admin/` (the page, compiled in) and `GET /admin/status` (what it shows,
/// as JSON), only with the admin token (`ServerConfiguration.adminToken`). Without one configured
/// both answer 404: the console is off, never open. See Docs/Console.md.
///
/// The token goes in an `Authorization: Bearer` header; the page takes it from its address after
/// `#token=`, which a browser never sends, so it reaches no log.
struct AdminRoutes: Sendable {
    let store: any ServerStorage
    let hub: ServerHub
    /// The admin token alone, compared as client tokens are (SHA-256 digests, constant time).
    let gate: TokenAuthority
    let startedAt: UInt64

    init?(token: String?, store: any ServerStorage, hub: ServerHub) {
        guard let token, !token.isEmpty else { return nil }
        self.store = store
        self.hub = hub
        gate = TokenAuthority(tokens: [token: .everything])
        startedAt = SystemWallClock().nowMillis()
    }

    func add(to router: Router<BasicRequestContext>) {
        let page = Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                            body: .init(byteBuffer: ByteBuffer(bytes: AdminConsoleAssets.adminHTML)))
        router.get("/admin/") { _, _ in page }
        router.get("/admin/status") { request, _ in
            let token = request.headers[.authorization].flatMap(SyncServer.bearer)
            guard gate.rights(for: token) != nil else {
                hub.metrics.authFailures.add(1, ordering: .relaxed)
                return JSONResponse.error(FrameError(.unauthorized, "the admin token is missing or wrong"), status: .unauthorized)
            }
            return JSONResponse.ok(.object(try await status()))
        }
    }

    /// What the console shows: this instance's connections, counters and head, and the cluster's head.
    func status() async throws -> JSONObject {
        let head = store.head
        var subscribers: JSONObject = [:]
        for (collection, count) in hub.subscriberCounts() { subscribers[collection] = .int(Int64(count)) }
        return [
            "serverId": .string(store.serverID.rawValue),
            "time": .int(Int64(clamping: SystemWallClock().nowMillis())),
            "startedAt": .int(Int64(clamping: startedAt)),
            "head": .int(Int64(clamping: head)),
            "clusterHead": .int(Int64(clamping: try await store.clusterHead())),
            "counters": .object(hub.metrics.snapshot(connections: hub.count, head: head)),
            "subscribers": .object(subscribers),
            "connections": .array(hub.views().map(\.json)),
        ]
    }
}
