import AsyncHTTPClient
import NIOCore
import SyncCore

enum HTTPHelper {
    /// A GET; the status and the body as JSON.
    static func get(_ url: String) async throws -> (Int, JSONValue?) {
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 24)
            return (Int(response.status.code), try? JSONParser().parse(body.readableBytesView))
        } catch {
            return (0, nil)
        }
    }
}
