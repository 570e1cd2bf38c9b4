import Synchronization
import SyncCore

/// The node's running figures, updated from any task.
final class MetricsRecorder: Sendable {
    private let metrics = Mutex(SyncMetrics())

    func update(_ body: (inout SyncMetrics) -> Void) {
        metrics.withLock { body(&$0) }
    }

    func snapshot() -> SyncMetrics {
        metrics.withLock { $0 }
    }

    func recordError(_ description: String) {
        metrics.withLock { $0.errorCounts[String(description.prefix(200)), default: 0] += 1 }
    }
}
