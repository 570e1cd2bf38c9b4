import SyncCore
import SyncLayer
import SyncStore
import SyncTelemetry

/// `GET /metrics` of a node's control endpoint: the node's figures in Prometheus' text format.
///
/// The node records its histograms (store commits, realtime connections) into `registry` as they
/// happen (``SyncConfiguration/metricsFactory``); its counters and states are read here, when asked
/// for. Every name is documented in `Docs/Operations.md`, "Metrics".
enum NodeMetrics {
    static func exposition(_ node: SyncNode, _ registry: MetricsRegistry) async -> [UInt8] {
        let r = registry
        let m = node.metrics()
        func total(_ name: String, _ labels: [(String, String)], _ help: String, _ value: Int) {
            r.counter(name, labels, help: help, total: value)
        }
        total("synclayer_node_operations_queued_total", [], "Local writes made on this node.", m.operationsQueued)
        total("synclayer_node_operations_synced_total", [], "Local writes the server acknowledged.", m.operationsSynced)
        total("synclayer_node_operations_failed_total", [], "Local writes the server refused.", m.operationsFailed)
        total("synclayer_node_changes_received_total", [], "Changes from the server or peers that were new here.", m.changesReceived)
        total("synclayer_node_duplicates_total", [], "Changes received that this node already held.", m.duplicatesDropped)
        total("synclayer_node_conflicts_total", [], "Conflicts detected (a field changed here and elsewhere).", m.conflictsDetected)
        total("synclayer_node_polls_total", [("result", "ok")], "HTTP polls of the server, by result.", m.successfulSyncs)
        total("synclayer_node_polls_total", [("result", "failed")], "HTTP polls of the server, by result.", m.failedSyncs)
        total("synclayer_node_connects_total", [], "Realtime connections that completed their handshake.", m.realtimeConnects)
        total("synclayer_node_reconnects_total", [], "Realtime connections after the first (the link came back).", max(0, m.realtimeConnects - 1))
        total("synclayer_node_relayed_changes_total", [("direction", "in")], "Changes applied from LAN peers (in) and passed to them (out).",
              m.changesFromPeers)
        total("synclayer_node_relayed_changes_total", [("direction", "out")], "Changes applied from LAN peers (in) and passed to them (out).",
              m.changesRelayed)
        total("synclayer_node_frames_refused_total", [], "Frames from the server or peers that could not be read.", m.framesRejected)
        total("synclayer_node_changes_refused_total", [], "Changes from peers refused (unsigned, or not signed by their origin).", m.changesRefused)
        total("synclayer_node_slow_peers_dropped_total", [], "Peer links closed for not reading what they were sent.", m.slowPeersDropped)
        total("synclayer_node_relay_skipped_changes_total", [], "New changes not relayed at once (the relay was behind); peers get them by version vector.",
              m.relaySkipped)

        r.gauge("synclayer_node_link_connected", help: "1 while the realtime link to the server is up.", value: node.linkState == .connected ? 1 : 0)
        if let outbox = try? await node.store.outboxSummary() {
            r.gauge("synclayer_node_outbox_changes", help: "Changes waiting for the server's acknowledgement.", value: Double(outbox.count))
            let now = SystemWallClock().nowMillis()
            let age = outbox.oldest.map { now > $0.wallMillis ? Double(now - $0.wallMillis) / 1000 : 0 } ?? 0
            r.gauge("synclayer_node_outbox_oldest_age_seconds", help: "Age of the oldest change waiting in the outbox (0 when empty).", value: age)
        }
        let mesh = node.meshStatus
        r.gauge("synclayer_node_mesh_peers", help: "Live links to LAN peers.", value: Double(mesh?.peers.count ?? 0))
        r.gauge("synclayer_node_mesh_uplink", help: "1 while this node reaches the server (what it tells its peers).",
                value: mesh?.uplink == true ? 1 : 0)
        r.processMemory()
        return r.exposition()
    }
}
