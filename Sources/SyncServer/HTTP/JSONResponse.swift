#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import SyncCore

/// Builds JSON responses and reads JSON requests for the REST routes.
enum JSONResponse {
    static func ok(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(value.canonicalBytes)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    static func error(_ error: FrameError, status: HTTPResponse.Status) -> Response {
        ok(["error": .string(error.message), "code": .string(error.code.rawValue)], status: status)
    }

    /// The request body as a JSON object, within `limit` bytes.
    static func body(_ request: Request, limit: Int) async throws(FrameError) -> JSONObject {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            throw FrameError(.tooLarge, "request body over \(limit) bytes")
        }
        do {
            return try JSONParser(limits: .init(maxBytes: limit, maxDepth: 32)).parseObject(buffer.readableBytesView)
        } catch {
            throw FrameError(.invalidMessage, "the body must be a JSON object: \(error)")
        }
    }

    /// The bearer token of a request, if any.
    static func token(_ request: Request) -> String? {
        request.headers[.authorization].flatMap(SyncServer.bearer)
    }
}
