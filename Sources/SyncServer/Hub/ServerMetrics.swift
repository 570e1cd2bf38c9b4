import CoreMetrics
import SyncCore
import SyncTelemetry
import Synchronization

/// The server's counters and histograms: `GET /metrics` in Prometheus' text format, `GET /metrics.json`
/// as a JSON object. Each server has its own (``MetricsRegistry``), so servers in one process keep apart.
///
/// Counters are atomics added to where things happen, and brought into the registry when it is read;
/// histograms are recorded through swift-metrics as they happen. Every name is documented in
/// `Docs/Operations.md`, "Metrics".
final class ServerMetrics: Sendable {
    let connectionsOpened = Atomic<Int>(0)
    /// Connections whose token was accepted (at the upgrade or by an `auth` frame).
    let connectionsAuthenticated = Atomic<Int>(0)
    let framesReceived = Atomic<Int>(0)
    let bytesReceived = Atomic<Int>(0)
    /// Frames written to sockets (replies, acks, changes, catch-up pages, closes), and their bytes.
    let framesSent = Atomic<Int>(0)
    let bytesSent = Atomic<Int>(0)
    let framesRejected = Atomic<Int>(0)
    let commits = Atomic<Int>(0)
    let changesCommitted = Atomic<Int>(0)
    let duplicatesDropped = Atomic<Int>(0)
    let changesRejected = Atomic<Int>(0)
    /// Changes refused for their signature (also counted in `changesRejected`).
    let badSignatures = Atomic<Int>(0)
    /// Ed25519 checks of one change's own signature, and of a frame's signature over all of its
    /// sender's changes in it (one check instead of one per change).
    let changeSignaturesChecked = Atomic<Int>(0)
    let frameSignaturesChecked = Atomic<Int>(0)
    /// Ed25519 checks of a frame key's offer (one per connection that offers one), and HMAC checks
    /// of the frames' codes under such keys (`Docs/Security.md`, "Frame keys").
    let frameKeysChecked = Atomic<Int>(0)
    let frameCodesChecked = Atomic<Int>(0)
    /// Node connections dropped because another instance's change of their collection was skipped
    /// by a read under way while they subscribed (they catch up from their cursor when they reconnect).
    let partialResyncs = Atomic<Int>(0)
    let authFailures = Atomic<Int>(0)
    let rateLimited = Atomic<Int>(0)
    let slowConnectionsDropped = Atomic<Int>(0)

    let registry = MetricsRegistry()
    /// Collections subscribed to since the server started: their gauge stays, at 0, when none is.
    private let subscribed = Mutex<Set<String>>([])
    /// From a frame being queued to a connection (right after its commit, or as a reply) to its
    /// write: recorded once per connection per drain, so without a `Timer`'s lock.
    let deliverySeconds: AtomicDurationHistogram
    /// A write transaction, from its start to its commit.
    let commitSeconds: Timer
    let messageBytesIn: Recorder
    let messageBytesOut: Recorder
    /// How many connections each commit was queued to.
    let fanout: Recorder

    init() {
        let factory = registry.factory
        deliverySeconds = registry.durationHistogram("synclayer_server_delivery_seconds",
                                                     help: "From a frame being queued to a connection to its write to the socket, once per write batch.")
        commitSeconds = Timer(label: "synclayer_store_commit_seconds", factory: factory)
        messageBytesIn = Recorder(label: "synclayer_server_message_bytes", dimensions: [("direction", "in")], factory: factory)
        messageBytesOut = Recorder(label: "synclayer_server_message_bytes", dimensions: [("direction", "out")], factory: factory)
        fanout = Recorder(label: "synclayer_server_fanout_connections", factory: factory)
    }

    /// A frame of `bytes` arrived.
    func received(bytes: Int) {
        framesReceived.add(1, ordering: .relaxed)
        bytesReceived.add(bytes, ordering: .relaxed)
        messageBytesIn.record(bytes)
    }

    /// What `/metrics.json` answers.
    func snapshot(connections: Int, head: UInt64) -> JSONObject {
        [
            "connections": .int(Int64(connections)),
            "connectionsOpened": .int(Int64(connectionsOpened.load(ordering: .relaxed))),
            "connectionsAuthenticated": .int(Int64(connectionsAuthenticated.load(ordering: .relaxed))),
            "framesReceived": .int(Int64(framesReceived.load(ordering: .relaxed))),
            "framesSent": .int(Int64(framesSent.load(ordering: .relaxed))),
            "framesRejected": .int(Int64(framesRejected.load(ordering: .relaxed))),
            "commits": .int(Int64(commits.load(ordering: .relaxed))),
            "changesCommitted": .int(Int64(changesCommitted.load(ordering: .relaxed))),
            "duplicatesDropped": .int(Int64(duplicatesDropped.load(ordering: .relaxed))),
            "changesRejected": .int(Int64(changesRejected.load(ordering: .relaxed))),
            "badSignatures": .int(Int64(badSignatures.load(ordering: .relaxed))),
            "changeSignaturesChecked": .int(Int64(changeSignaturesChecked.load(ordering: .relaxed))),
            "frameSignaturesChecked": .int(Int64(frameSignaturesChecked.load(ordering: .relaxed))),
            "frameKeysChecked": .int(Int64(frameKeysChecked.load(ordering: .relaxed))),
            "frameCodesChecked": .int(Int64(frameCodesChecked.load(ordering: .relaxed))),
            "partialResyncs": .int(Int64(partialResyncs.load(ordering: .relaxed))),
            "authFailures": .int(Int64(authFailures.load(ordering: .relaxed))),
            "rateLimited": .int(Int64(rateLimited.load(ordering: .relaxed))),
            "slowConnectionsDropped": .int(Int64(slowConnectionsDropped.load(ordering: .relaxed))),
            "serverSeq": .int(Int64(clamping: head)),
        ]
    }

    /// What `/metrics` answers: the counters brought up to date, the gauges set from `state`.
    func exposition(_ state: ServerState) -> [UInt8] {
        let r = registry
        func total(_ name: String, _ labels: [(String, String)], _ help: String, _ value: borrowing Atomic<Int>) {
            r.counter(name, labels, help: help, total: value.load(ordering: .relaxed))
        }
        total("synclayer_server_connections_opened_total", [], "WebSocket connections accepted.", connectionsOpened)
        total("synclayer_server_connections_authenticated_total", [], "WebSocket connections whose token was accepted.", connectionsAuthenticated)
        total("synclayer_server_auth_failures_total", [], "Requests and connections refused for their token.", authFailures)
        total("synclayer_server_messages_total", [("direction", "in")], "WebSocket frames received and sent.", framesReceived)
        total("synclayer_server_messages_total", [("direction", "out")], "WebSocket frames received and sent.", framesSent)
        total("synclayer_server_bytes_total", [("direction", "in")], "Bytes of WebSocket messages received (payloads) and written (whole frames).", bytesReceived)
        total("synclayer_server_bytes_total", [("direction", "out")], "Bytes of WebSocket messages received (payloads) and written (whole frames).", bytesSent)
        total("synclayer_server_frames_refused_total", [("reason", "invalid")], "Frames refused, by reason.", framesRejected)
        total("synclayer_server_frames_refused_total", [("reason", "rate_limited")], "Frames refused, by reason.", rateLimited)
        total("synclayer_server_commits_total", [], "Store commits published to connections.", commits)
        total("synclayer_server_changes_total", [], "Changes committed (new ones; duplicates are not counted).", changesCommitted)
        total("synclayer_server_duplicates_total", [], "Changes received again and answered from the store.", duplicatesDropped)
        total("synclayer_server_changes_refused_total", [("reason", "signature")], "Changes refused, by reason.", badSignatures)
        r.counter("synclayer_server_changes_refused_total", [("reason", "other")], help: "Changes refused, by reason.",
                  total: changesRejected.load(ordering: .relaxed) - badSignatures.load(ordering: .relaxed))
        let checks = "Ed25519 checks: of one change's own signature, of a frame's signature over its sender's changes, or of a frame key's offer."
        total("synclayer_server_signature_checks_total", [("kind", "change")], checks, changeSignaturesChecked)
        total("synclayer_server_signature_checks_total", [("kind", "frame")], checks, frameSignaturesChecked)
        total("synclayer_server_signature_checks_total", [("kind", "frame_key")], checks, frameKeysChecked)
        total("synclayer_server_frame_codes_checked_total", [], "HMAC checks of frames' codes under their connection's frame key.",
              frameCodesChecked)
        total("synclayer_server_partial_resyncs_total", [],
              "Node connections dropped to catch up again: another instance's change of their collection was skipped as they subscribed.",
              partialResyncs)
        total("synclayer_server_slow_connections_dropped_total", [], "Connections closed for not reading what they were sent.", slowConnectionsDropped)
        r.gauge("synclayer_server_connections", help: "WebSocket connections open now.", value: Double(state.connections))
        r.gauge("synclayer_server_head_seq", help: "The last server sequence this instance has published.", value: Double(state.head))
        r.gauge("synclayer_server_cluster_head_seq", help: "The last server sequence committed by any instance sharing the store.",
                value: Double(state.clusterHead))
        let collections = subscribed.withLock { seen in
            seen.formUnion(state.subscribers.keys)
            return seen
        }
        for collection in collections {
            let count = state.subscribers[collection] ?? 0
            r.gauge("synclayer_server_subscribers", [("collection", collection)], help: "Connections subscribed to each collection.",
                    value: Double(count))
        }
        for counter in state.storeCounters {
            r.counter(counter.name, counter.labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, help: counter.help, total: counter.total)
        }
        r.processMemory()
        return r.exposition()
    }
}

/// The figures of `/metrics` that are states, read when it is asked for.
struct ServerState: Sendable {
    var connections: Int
    var head: UInt64
    var clusterHead: UInt64
    /// Per collection, how many connections subscribe to it now.
    var subscribers: [String: Int]
    /// The store's own counters (``ServerStorage/counters``).
    var storeCounters: [StoreCounter] = []
}
