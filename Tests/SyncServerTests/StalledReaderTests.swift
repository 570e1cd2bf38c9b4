import Foundation
import SyncCore
import SyncServer
import SyncTesting
import Testing

/// A client that subscribes and then never reads must not make the server hold what is committed
/// meanwhile: past `outboundQueueLimit` queued changes it is dropped (it would catch up from its
/// cursor on reconnecting), while writers keep being acknowledged.
@Suite struct StalledReaderTests {
    @Test func aSubscriberThatNeverReadsIsDroppedInsteadOfPinningMemory() async throws {
        var limits = ServerLimits()
        limits.outboundQueueLimit = 500
        limits.signatures = .checkedWhenPresent
        try await withServer(limits: limits) { server, _ in
            let stalled = try await BareWebSocket.connect(port: server.port)
            try await stalled.subscribe(to: "todos")
            defer { stalled.close() }
            // 40 pushes of 100 changes of 2 KB each (8 MB): far more than the socket buffers on the
            // way to a reader that never reads, so the server's queue for it fills.
            let origin = NodeID("00112233445566778899aabbccddeeff")!
            let padding = String(repeating: "x", count: 2_000)
            var acknowledged = 0
            for push in 0..<40 {
                let changes: [JSONValue] = (1...100).map { index in
                    let seq = UInt64(push * 100 + index)
                    let change = Change(id: ChangeID(origin: origin, seq: seq), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000 + seq),
                                        collection: "todos", recordID: "r\(seq)", kind: .insert, fields: ["text": .string(padding)])
                    return .object(FrameCodec.object(for: .change(ChangeMessage(change))))
                }
                let body = JSONValue.object(["changes": .array(changes)]).canonicalString
                let answer = try await http(.POST, "\(server.baseURL)/sync/_push", body: body)
                acknowledged += answer.json?["committed"]?.objectValue?.count ?? 0
            }
            #expect(acknowledged == 4_000, "every write was acknowledged while the reader stalled")
            let metrics = try await http(.GET, "\(server.baseURL)/metrics.json").json
            #expect(metrics?["slowConnectionsDropped"]?.intValue == 1)
            // The server closed the stalled connection: reading now reaches its end, after at most
            // what was in flight (bounded by the queue limit and the socket buffers).
            let drained = try await stalled.readAllUntilClosed(limit: 16 << 20).count
            #expect(drained < 8_000_000, "the stalled reader was sent \(drained) bytes before the close, not everything")
            // Everyone else is still served.
            #expect(try await http(.GET, "\(server.baseURL)/health").json?["status"] == "ok")
        }
    }
}
