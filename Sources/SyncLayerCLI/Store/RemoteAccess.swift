import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOHTTP1
import SyncLayer
import SyncCore

/// A running node reached through its control endpoint (`synclayer node --control PORT`).
struct RemoteAccess: NodeAccess {
    let baseURL: String

    /// The control endpoint is on this machine: a refused connection means no node runs there, so
    /// it is reported at once instead of being retried until the request's deadline (30 s).
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private func path(_ collection: String, _ id: String? = nil) -> String {
        let escaped = PercentEncoding.encode(collection)
        guard let id else { return "\(baseURL)/collections/\(escaped)" }
        return "\(baseURL)/collections/\(escaped)/\(PercentEncoding.encode(id))"
    }

    private func call(_ method: HTTPMethod, _ url: String, body: JSONObject? = nil) async throws -> (Int, JSONValue?) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: JSONValue.object(body).canonicalBytes))
        }
        let response: HTTPClientResponse
        do {
            response = try await Self.client.execute(request, timeout: .seconds(30))
        } catch {
            throw Failure(description: "cannot reach the node at \(baseURL): is `synclayer node` running? (\(error))")
        }
        let bytes = try await response.body.collect(upTo: 256 << 20)
        let json = try? JSONParser(limits: .init(maxBytes: 256 << 20, maxDepth: 64)).parse(bytes.readableBytesView)
        let status = Int(response.status.code)
        if status >= 400, status != 404 {
            throw Failure(description: json?["error"]?.stringValue ?? "the node answered HTTP \(status)")
        }
        return (status, json)
    }

    private func document(_ value: JSONValue?) -> Document? {
        guard let id = value?["id"]?.stringValue, let data = value?["data"]?.objectValue else { return nil }
        return Document(id: id, data: data)
    }

    func save(_ collection: String, _ fields: JSONObject, id: String?) async throws -> String {
        if let id {
            _ = try await call(.PUT, path(collection, id), body: fields)
            return id
        }
        let (_, answer) = try await call(.POST, path(collection), body: fields)
        guard let newID = answer?["id"]?.stringValue else { throw Failure(description: "the node did not return an id") }
        return newID
    }

    func update(_ collection: String, _ id: String, _ fields: JSONObject) async throws {
        let (status, reply) = try await call(.PATCH, path(collection, id), body: fields)
        if status == 404 { throw Failure(description: reply?["error"]?.stringValue ?? "no document \(id)") }
    }

    func get(_ collection: String, _ id: String) async throws -> Document? {
        let (status, reply) = try await call(.GET, path(collection, id))
        return status == 404 ? nil : document(reply)
    }

    func delete(_ collection: String, _ ids: [String]) async throws {
        for id in ids { _ = try await call(.DELETE, path(collection, id)) }
    }

    func list(_ collection: String, limit: Int?, offset: Int?) async throws -> [Document] {
        let (_, reply) = try await call(.GET, path(collection))
        let all = (reply?.arrayValue ?? []).compactMap(document)
        return Array(all.dropFirst(offset ?? 0).prefix(limit ?? Int.max))
    }

    func watch(_ collection: String) -> AsyncThrowingStream<[Document], any Error> {
        let url = path(collection) + "/watch"
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let response = try await Self.client.execute(HTTPClientRequest(url: url), timeout: .hours(24 * 365))
                    var pending: [UInt8] = []
                    for try await chunk in response.body {
                        pending.append(contentsOf: chunk.readableBytesView)
                        while let newline = pending.firstIndex(of: 0x0A) {
                            let line = pending[..<newline]
                            pending.removeSubrange(...newline)
                            let value = try JSONParser(limits: .init(maxBytes: 256 << 20, maxDepth: 64)).parse(line)
                            continuation.yield((value.arrayValue ?? []).compactMap(document))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    func status() async throws -> JSONObject {
        let (_, reply) = try await call(.GET, "\(baseURL)/status")
        guard let object = reply?.objectValue else { throw Failure(description: "the node's status is not JSON") }
        return object
    }
}
