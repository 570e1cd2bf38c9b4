import CoreMetrics
import Prometheus
import Synchronization

/// The metrics of one server or one node, in Prometheus' text exposition format.
///
/// Two ways in, both ending in the same `PrometheusCollectorRegistry`:
/// - **Histograms** are recorded where they happen, through swift-metrics (`Timer`, `Recorder`)
///   created with ``factory``, so several servers or nodes in one process keep apart. One recorded
///   for every frame a server writes is an ``AtomicDurationHistogram`` instead (``durationHistogram(_:help:)``),
///   rendered with the others.
/// - **Counters and gauges that already exist elsewhere** (the server's atomics, a node's
///   `SyncMetrics`, a snapshot of its state) are brought up to date when `/metrics` is read:
///   ``counter(_:_:help:total:)`` adds what a counter gained since the last read, ``gauge(_:_:help:value:)``
///   sets a gauge. Nothing is counted twice and the hot paths keep their single atomic add.
package final class MetricsRegistry: Sendable {
    package let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory that records into ``registry``, with our histogram buckets.
    package let factory: PrometheusMetricsFactory
    /// Per fed counter (name and labels): its series and the total it was last brought to.
    private let fed = Mutex<[String: (counter: Prometheus.Counter, total: Int64)]>([:])
    /// The histograms of ``durationHistogram(_:help:)``, in the order they were made.
    private let atomicHistograms = Mutex<[AtomicDurationHistogram]>([])

    package init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = MetricsRegistry.durationBuckets
        factory.defaultValueHistogramBuckets = MetricsRegistry.sizeBuckets
        self.factory = factory
    }

    /// Durations from 50 µs to 10 s: a commit, a delivery, a connection.
    package static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(10),
    ]
    /// Sizes and counts in powers of four: message bytes (64 B to 4 MiB), subscribers per change.
    package static let sizeBuckets: [Double] = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262_144, 1_048_576, 4_194_304]

    /// Brings the counter `name{labels}` to `total`, a running count kept elsewhere (it only ever
    /// grows; a smaller total is ignored, as Prometheus counters never go down).
    package func counter(_ name: String, _ labels: [(String, String)] = [], help: String, total: Int) {
        let key = MetricsRegistry.key(name, labels)
        let total = Int64(total)
        fed.withLock { fed in
            let entry = fed[key] ?? (registry.makeCounter(descriptor: Self.descriptor(name, help), labels: labels), 0)
            if total > entry.total { entry.counter.increment(by: total - entry.total) }
            fed[key] = (entry.counter, max(total, entry.total))
        }
    }

    /// Sets the gauge `name{labels}`.
    package func gauge(_ name: String, _ labels: [(String, String)] = [], help: String, value: Double) {
        registry.makeGauge(descriptor: Self.descriptor(name, help), labels: labels).set(value)
    }

    /// Sets the gauge `synclayer_process_resident_bytes` from `/proc/self/status`.
    package func processMemory() {
        if let bytes = ProcessMemory.residentBytes() {
            gauge("synclayer_process_resident_bytes", help: "Resident memory of this process (VmRSS), in bytes.", value: Double(bytes))
        }
    }

    /// A histogram of durations, with ``durationBuckets``, for a path that records too often for a
    /// `Timer`'s lock (``AtomicDurationHistogram``). `name` must not be used by another metric.
    package func durationHistogram(_ name: String, help: String) -> AtomicDurationHistogram {
        let histogram = AtomicDurationHistogram(name: name, help: help, buckets: Self.durationBuckets)
        atomicHistograms.withLock { $0.append(histogram) }
        return histogram
    }

    /// Everything, in the text exposition format (version 0.0.4).
    package func exposition() -> [UInt8] {
        var buffer = registry.emitToBuffer()
        for histogram in atomicHistograms.withLock({ $0 }) { histogram.emit(into: &buffer) }
        return buffer
    }

    /// The content type of ``exposition()``.
    package static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The whole name in `metricName` (our names carry their unit already), and the help text.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        labels.reduce(name) { $0 + "\u{1}" + $1.0 + "=" + $1.1 }
    }
}
