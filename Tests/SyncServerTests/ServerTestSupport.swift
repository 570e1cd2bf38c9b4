import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SyncCore
import SyncServer
import SyncTesting

/// Runs `body` against a fresh server in a temporary folder, once per server store the run has
/// (SQLite, and PostgreSQL under scripts/with-postgres: the server's suite runs against both).
func withServer<T>(authority: TokenAuthority = .open, limits: ServerLimits = ServerLimits(), adminToken: String? = nil,
                   _ body: (TestServer, TemporaryDirectory) async throws -> T) async throws -> T {
    var result: T?
    for kind in TestStoreKind.available {
        result = try await withTemporaryDirectory(prefix: "server") { directory in
            try await kind.withLocation(in: directory) { location in
                let server = try await TestServer.start(databasePath: location, authority: authority, limits: limits, adminToken: adminToken)
                do {
                    let result = try await body(server, directory)
                    await server.stop()
                    return result
                } catch {
                    await server.stop()
                    throw StoreKindFailure(kind: kind, error: error)
                }
            }
        }
    }
    return result!
}

/// A test failed against one kind of server store: says which.
struct StoreKindFailure: Error, CustomStringConvertible {
    let kind: TestStoreKind
    let error: any Error
    var description: String { "with the \(kind.rawValue) store: \(error)" }
}

/// A plain HTTP request; returns the status and the body parsed as JSON (or `nil`).
func http(_ method: HTTPMethod, _ url: String, body: String? = nil, token: String? = nil) async throws -> (status: Int, json: JSONValue?) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    request.headers.add(name: "Content-Type", value: "application/json")
    if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
    if let body { request.body = .bytes(ByteBuffer(string: body)) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let bytes = try await response.body.collect(upTo: 1 << 24)
    return (Int(response.status.code), try? JSONParser().parse(bytes.readableBytesView))
}

func parse(_ text: String?) -> JSONValue? {
    text.flatMap { try? JSONParser().parse($0) }
}
