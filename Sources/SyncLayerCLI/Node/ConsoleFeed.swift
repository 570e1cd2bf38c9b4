import Hummingbird
import ServiceLifecycle
import SyncLayer
import Synchronization
import SyncCore

/// The console's live feed, `GET /events`: server-sent events, `status` (the node's status report,
/// as `GET /status` answers it) whenever it changed, at most once per ``interval``, and `change`,
/// one per change applied to the store from then on, with where it came from (``origin(of:)``).
///
/// Ends when the browser goes away or on graceful shutdown; the page's `EventSource` reconnects by
/// itself (after `retry` milliseconds).
struct ConsoleFeed {
    /// The shortest time between two status reports.
    static let interval: Duration = .milliseconds(500)
    /// Without any event, the report is still read again this often (the peers' counters and the
    /// discovery state change without one); the collections' digests are read only after a change.
    static let refreshTicks = 4

    let node: SyncNode

    /// What changed since the last report: anything (an event or a link state), or the documents.
    private final class Flags: Sendable {
        let anything = Atomic(true)
        let documents = Atomic(true)
    }

    func response() -> Response {
        let node = self.node
        // Subscribed before the response is written, so no change between the first report and
        // the first event is missed.
        let events = node.events()
        let states = node.linkStates()
        let body = ResponseBody { writer in
            let (frames, output) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingNewest(1024))
            let flags = Flags()
            try await withThrowingTaskGroup { group in
                group.addTask {
                    for await event in events {
                        flags.anything.store(true, ordering: .relaxed)
                        guard let change = Self.change(event) else { continue }
                        flags.documents.store(true, ordering: .relaxed)
                        output.yield(Self.frame("change", change))
                    }
                    output.finish()
                }
                group.addTask {
                    for await _ in states { flags.anything.store(true, ordering: .relaxed) }
                }
                group.addTask { try await Self.reportStatus(node, flags: flags, to: output) }
                try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                // Ends on graceful shutdown, or the server would wait for this response forever.
                for await frame in frames.cancelOnGracefulShutdown() { try await writer.write(frame) }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// Sends the report when it changed, checking at most once per ``interval`` and only when
    /// something happened or ``refreshTicks`` intervals passed; until cancelled.
    private static func reportStatus(_ node: SyncNode, flags: Flags, to output: AsyncStream<ByteBuffer>.Continuation) async throws {
        var collections: JSONObject?
        var sent: JSONObject?
        var quietTicks = 0
        while true {
            if flags.anything.exchange(false, ordering: .relaxed) || quietTicks >= refreshTicks {
                quietTicks = 0
                if flags.documents.exchange(false, ordering: .relaxed) || collections == nil {
                    collections = try await NodeStatus.collections(node)
                }
                let report = try await NodeStatus.report(node, collections: collections)
                let unaged = NodeStatus.withoutAges(report)
                if unaged != sent {
                    sent = unaged
                    output.yield(frame("status", report))
                }
            } else {
                quietTicks += 1
            }
            try await Task.sleep(for: interval)
        }
    }

    /// The `change` event for a node event that reports an applied change; `nil` for any other.
    static func change(_ event: SyncEvent) -> JSONObject? {
        guard event.kind == .operationQueued || event.kind == .changeApplied, let origin = origin(of: event) else { return nil }
        var change: JSONObject = [
            "collection": event.collection.map { .string($0) } ?? .null, "id": event.recordID.map { .string($0) } ?? .null,
            "origin": .string(origin), "time": .int(Int64(clamping: event.time)),
        ]
        for key in ["kind", "changeId", "source", "peer"] { change[key] = event.metadata[key] }
        return change
    }

    /// Where an applied change came from: `local`, `server`, or `peer <node id>`.
    static func origin(of event: SyncEvent) -> String? {
        switch event.metadata["source"] {
        case .string("local")?: "local"
        case .string("server")?: "server"
        case .string("peer")?: event.metadata["peer"].flatMap { if case .string(let id) = $0 { "peer \(id)" } else { nil } }
        default: nil
        }
    }

    /// One server-sent event: its type and its data, a JSON document on one line.
    static func frame(_ type: String, _ data: JSONObject) -> ByteBuffer {
        var buffer = ByteBuffer(string: "event: \(type)\ndata: ")
        buffer.writeBytes(JSONValue.object(data).canonicalBytes)
        buffer.writeString("\n\n")
        return buffer
    }
}
