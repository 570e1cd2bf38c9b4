import AsyncHTTPClient
import NIOCore
import SyncCore
@testable import SyncServer
import SyncTelemetry
import SyncTesting
import Testing

/// `/metrics` in Prometheus' text format: the histogram recorded for every frame a server writes
/// (``AtomicDurationHistogram``) reads like the registry's own.
@Suite struct MetricsExpositionTests {
    /// The lines of `text` that start with `prefix`, as name-and-labels → value.
    static func samples(_ text: String, _ prefix: String) -> [String: String] {
        var found: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            let parts = line.split(separator: " ")
            if parts.count == 2 { found[String(parts[0])] = String(parts[1]) }
        }
        return found
    }

    @Test func anAtomicHistogramIsRenderedCumulativelyWithItsSumAndCount() {
        let registry = MetricsRegistry()
        let histogram = registry.durationHistogram("test_wait_seconds", help: "A wait.")
        for nanoseconds: Int64 in [30_000, 50_000, 120_000, 3_000_000_000, 20_000_000_000, -5] {
            histogram.recordNanoseconds(nanoseconds)
        }
        let text = String(decoding: registry.exposition(), as: UTF8.self)
        #expect(text.contains("# HELP test_wait_seconds A wait.\n# TYPE test_wait_seconds histogram\n"))
        let lines = Self.samples(text, "test_wait_seconds")
        // A bound holds the values at or below it; a negative value counts as 0.
        #expect(lines[#"test_wait_seconds_bucket{le="0.00005"}"#] == "3")
        #expect(lines[#"test_wait_seconds_bucket{le="0.0001"}"#] == "3")
        #expect(lines[#"test_wait_seconds_bucket{le="0.00025"}"#] == "4")
        #expect(lines[#"test_wait_seconds_bucket{le="2.5"}"#] == "4")
        #expect(lines[#"test_wait_seconds_bucket{le="10.0"}"#] == "5")
        #expect(lines[#"test_wait_seconds_bucket{le="+Inf"}"#] == "6")
        #expect(lines["test_wait_seconds_count"] == "6")
        #expect(lines["test_wait_seconds_sum"] == "23.0002")
        #expect(lines.count == MetricsRegistry.durationBuckets.count + 3)
    }

    /// A store's own counters (PostgreSQL's preparations and reads) are shown beside the server's.
    @Test func aStoresOwnCountersAreShownWithTheirLabels() {
        let help = "Group transactions prepared while the one before them wrote."
        let state = ServerState(connections: 0, head: 0, clusterHead: 0, subscribers: [:], storeCounters: [
            StoreCounter("synclayer_store_prepared_transactions_total", ["outcome": "committed"], help: help, total: 39),
            StoreCounter("synclayer_store_prepared_transactions_total", ["outcome": "dropped"], help: help, total: 1),
        ])
        let text = String(decoding: ServerMetrics().exposition(state), as: UTF8.self)
        let lines = Self.samples(text, "synclayer_store_prepared_transactions_total")
        #expect(lines == [#"synclayer_store_prepared_transactions_total{outcome="committed"}"#: "39",
                          #"synclayer_store_prepared_transactions_total{outcome="dropped"}"#: "1"])
        #expect(text.contains("# TYPE synclayer_store_prepared_transactions_total counter"))
    }

    @Test func aServerCountsEachWriteOfItsFramesInTheDeliveryHistogram() async throws {
        try await withServer { server, _ in
            let client = try await RawWebSocket.connect(server.webSocketURL)
            var incoming = client.messages.makeAsyncIterator()
            for _ in 0..<3 {
                try await client.send(#"{"type":"ping"}"#)
                #expect(await incoming.next(ofType: "pong") != nil)
            }
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(server.baseURL)/metrics"), timeout: .seconds(10))
            let text = String(buffer: try await response.body.collect(upTo: 1 << 24))
            let lines = Self.samples(text, "synclayer_server_delivery_seconds")
            let count = Int(lines["synclayer_server_delivery_seconds_count"] ?? "") ?? 0
            // Each pong was written on its own, after the ping before it had been answered.
            #expect(count >= 3)
            #expect(lines[#"synclayer_server_delivery_seconds_bucket{le="+Inf"}"#] == String(count))
            #expect(text.contains("# TYPE synclayer_server_delivery_seconds histogram"))
            await client.close()
        }
    }
}
