import CoreMetrics
import Synchronization
import SyncCore
import SyncStore

/// The node's running figures, updated from any task, and its histograms, recorded through
/// swift-metrics with the factory the configuration names (``SyncConfiguration/metricsFactory``).
final class MetricsRecorder: Sendable {
    private let metrics = Mutex(SyncMetrics())
    /// From the start of a realtime connection attempt to the server's answer to `hello`.
    private let connectSeconds: Timer
    /// A write transaction of the node's store, from its start to its commit.
    private let commitSeconds: Timer

    init(factory: any MetricsFactory) {
        connectSeconds = Timer(label: "synclayer_node_connect_seconds", factory: factory)
        commitSeconds = Timer(label: "synclayer_store_commit_seconds", factory: factory)
    }

    func update(_ body: (inout SyncMetrics) -> Void) {
        metrics.withLock { body(&$0) }
    }

    func snapshot() -> SyncMetrics {
        metrics.withLock { $0 }
    }

    func recordError(_ description: String) {
        metrics.withLock { $0.errorCounts[String(description.prefix(200)), default: 0] += 1 }
    }

    /// The realtime link connected, `duration` after the attempt began.
    func connected(after duration: Duration) {
        metrics.withLock { $0.realtimeConnects += 1 }
        connectSeconds.recordNanoseconds(duration.nanosecondsValue)
    }

    /// Times every commit of `store` (until it closes).
    func timeCommits(of store: LocalStore) {
        let timer = commitSeconds
        store.timeCommits { timer.recordNanoseconds($0.nanosecondsValue) }
    }
}
