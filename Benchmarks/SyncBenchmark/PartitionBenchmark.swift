import BenchmarkSupport
import Foundation
import SyncLayer
import SyncServer
import SyncTesting
import SyncCore
import SyncStore

/// Part 8: nodes on one loopback "LAN" split into two halves with the server down, writing on both
/// sides, then healed. Every link, mesh and server, runs through a counting `TCPProxy`; the links
/// between the halves are cut by blackholing theirs (the silent way: only heartbeats notice).
enum PartitionBenchmark {
    struct Figures {
        /// Seconds from the heal until every digest equals the server's and every outbox is empty.
        var seconds: Double
        /// Seconds from the heal until every node had all its links back.
        var linksBack: Double
        /// Seconds from the heal until the server held every change.
        var serverHeld: Double
        /// CPU seconds (user and system, every thread of this process) the heal used until it
        /// converged: with 2 cores, twice `seconds` means the heal was bound by the CPU.
        var cpuSeconds: Double
        /// Copies of changes the nodes sent to peers during the heal, and copies they received that
        /// they held already.
        var relayed: Int
        var duplicates: Int
        var changes: Int
        var encodedBytes: Int
        /// Bytes on the server links and on the mesh links during the heal, both directions.
        var serverBytes: Int
        var meshBytes: Int
    }

    /// A mesh link through a proxy: `from` dials `to`.
    struct Link: Sendable {
        var from: Int
        var to: Int
        var proxy: TCPProxy
        var crossesHalves: Bool
    }

    /// The topology: in each half, node `j` dials the nodes `j-1` and `j-2` of its half (a ladder,
    /// at most 4 links each); node `j < bridges` of the second half dials node `j` of the first.
    static func peers(of index: Int, nodes: Int, bridges: Int) -> [(Int, Bool)] {
        let half = nodes / 2, offset = index < half ? 0 : half, position = index - offset
        var peers = [1, 2].filter { position - $0 >= 0 }.map { (offset + position - $0, false) }
        if offset > 0, position < bridges { peers.append((position, true)) }
        return peers
    }

    static func run(directory: TemporaryDirectory, nodes count: Int, perNode: Int, text: String, bridges: Int = 2) async throws -> Figures {
        let serverPort = try freeLoopbackPort()
        let team = "bench-\(UUID().uuidString.prefix(8))"
        var serverProxies: [TCPProxy] = []
        var links: [Link] = []
        var opened: [TestNode] = []
        var ports: [Int] = []
        var server: TestServer?
        let result: Result<Figures, any Error>
        do {
            for index in 0..<count {
                let proxy = try await TCPProxy.start(targetPort: serverPort)
                serverProxies.append(proxy)
                var dials: [Int] = []
                for (peer, crosses) in peers(of: index, nodes: count, bridges: bridges) {
                    let link = Link(from: index, to: peer, proxy: try await TCPProxy.start(targetPort: ports[peer]), crossesHalves: crosses)
                    links.append(link)
                    dials.append(link.proxy.port)
                }
                let node = try await MeshBenchmark.openNode(directory.file("partition-\(index).sqlite"), baseURL: "http://127.0.0.1:\(proxy.port)",
                                                            peers: dials, team: team)
                opened.append(node)
                guard let port = await node.node.waitUntilMeshListening() else { throw BenchmarkError("node \(index) did not listen") }
                ports.append(port)
            }
            let nodes = opened.map(\.node), allLinks = links
            @Sendable func neighbours(_ index: Int, acrossHalves: Bool) -> Set<NodeID> {
                Set(allLinks.filter { (acrossHalves || !$0.crossesHalves) && ($0.from == index || $0.to == index) }
                    .map { nodes[$0.from == index ? $0.to : $0.from].nodeID })
            }
            for index in nodes.indices { try await MeshBenchmark.waitForLinks(nodes[index], to: neighbours(index, acrossHalves: true)) }

            // The partition: the links between the halves go silent; each side drops them.
            for link in links where link.crossesHalves { link.proxy.blackhole() }
            for index in nodes.indices { try await MeshBenchmark.waitForLinks(nodes[index], to: neighbours(index, acrossHalves: false)) }

            // Both halves write; each half shares its own writes.
            try await MeshBenchmark.writeOffline(nodes, perNode: perNode, text: text)
            let total = count * perNode, half = count / 2
            let shared = try await waitUntil(anyCommitIn: nodes.map(CommitSource.node), timeout: .seconds(120)) {
                for node in nodes where try await node.collection(MeshBenchmark.collection).count() != half * perNode { return false }
                return true
            }
            guard shared else { throw BenchmarkError("the halves did not share their own writes") }

            // The heal: the links between the halves forward again, the server returns, every node reconnects.
            let before = (serverProxies.map(\.bytesForwarded), links.map(\.proxy.bytesForwarded))
            let metricsBefore = nodes.map { $0.metrics() }
            let start = now(), cpuAtStart = processCPUSeconds()
            for link in links where link.crossesHalves { await link.proxy.restore() }
            let up = try await TestServer.start(databasePath: directory.file("partition-server.sqlite"), port: serverPort)
            server = up
            for node in nodes { node.connect() }
            let watch = HealWatch(start: start, server: up.store, total: total, nodes: nodes,
                                  neighbours: nodes.indices.map { neighbours($0, acrossHalves: true) })
            defer { watch.stop() }
            if ProcessInfo.processInfo.environment["SYNC_BENCH_TRACE"] != nil {
                let server = up.store
                Thread.detachNewThread {
                    while now() - start < 20 {
                        var line = String(format: "%.2f head %d", now() - start, server.head)
                        for (index, node) in nodes.enumerated() {
                            let held = node.store.heldVector.entries.values.reduce(0, +)
                            line += " | \(index) \(node.linkState.rawValue.prefix(4)) h\(held) s\(node.metrics().operationsSynced) p\(node.meshStatus?.peers.count ?? -1) u\(node.meshStatus?.peers.filter(\.uplink).count ?? -1)"
                        }
                        FileHandle.standardError.write(Data((line + "\n").utf8))
                        usleep(250_000)
                    }
                }
            }
            let converged = try await MeshBenchmark.waitUntilConverged(server: up.store, nodes: nodes, total: total)
            let seconds = now() - start, cpuSeconds = processCPUSeconds() - cpuAtStart
            guard converged else {
                var state = "server head \(up.store.head)"
                for node in nodes {
                    state += "; \(node.nodeID.description.prefix(6)): \(node.linkState), outbox \(try await node.store.outboxCount()), "
                        + "\(try await node.collection(MeshBenchmark.collection).count()) documents"
                }
                throw BenchmarkError("the healed partition did not converge in 120 s: \(state)")
            }
            let after = (serverProxies.map(\.bytesForwarded), links.map(\.proxy.bytesForwarded))
            let encoded = try await MeshBenchmark.encodedSizeOfChangesHeldOnce(by: up.store, total: total)
            func sum(_ after: [(toTarget: Int, fromTarget: Int)], _ before: [(toTarget: Int, fromTarget: Int)]) -> Int {
                zip(after, before).reduce(0) { $0 + $1.0.toTarget - $1.1.toTarget + $1.0.fromTarget - $1.1.fromTarget }
            }
            let metricsAfter = nodes.map { $0.metrics() }
            // The bridges may relink after the convergence (at most 60 s more).
            let waitedFrom = now()
            while watch.linksBack.withLock({ $0 }) == nil, now() - waitedFrom < 60 { try await Task.sleep(for: .milliseconds(50)) }
            result = .success(Figures(seconds: seconds, linksBack: watch.linksBack.withLock { $0 } ?? .nan,
                                      serverHeld: watch.serverHeld.withLock { $0 } ?? .nan, cpuSeconds: cpuSeconds,
                                      relayed: zip(metricsAfter, metricsBefore).reduce(0) { $0 + $1.0.changesRelayed - $1.1.changesRelayed },
                                      duplicates: zip(metricsAfter, metricsBefore).reduce(0) { $0 + $1.0.duplicatesDropped - $1.1.duplicatesDropped },
                                      changes: total, encodedBytes: encoded,
                                      serverBytes: sum(after.0, before.0), meshBytes: sum(after.1, before.1)))
        } catch {
            result = .failure(error)
        }
        await MeshBenchmark.stop(opened)
        for proxy in serverProxies + links.map(\.proxy) { await proxy.stop() }
        await server?.stop()
        return try result.get()
    }
}

/// When, during a heal, the server first held every change and every node first had all its links:
/// polled every 5 ms from a thread of its own, since the Swift concurrency pool is saturated during
/// a heal and a task waiting there would see both late (a task meant to wake every 250 ms first ran
/// after 1.2 s in one run).
final class HealWatch: Sendable {
    let serverHeld = Locked<Double?>(nil)
    let linksBack = Locked<Double?>(nil)
    private let stopped = Locked(false)

    init(start: Double, server: any ServerStorage, total: Int, nodes: [SyncNode], neighbours: [Set<NodeID>], limit: Double = 120) {
        let serverHeld = self.serverHeld, linksBack = self.linksBack, stopped = self.stopped
        Thread.detachNewThread {
            while !stopped.withLock({ $0 }), now() - start < limit {
                if serverHeld.withLock({ $0 }) == nil, server.head >= UInt64(total) {
                    serverHeld.withLock { $0 = now() - start }
                }
                if linksBack.withLock({ $0 }) == nil,
                   zip(nodes, neighbours).allSatisfy({ node, expected in node.meshStatus.map { Set($0.peers.map(\.nodeID)) == expected } ?? false }) {
                    linksBack.withLock { $0 = now() - start }
                }
                if serverHeld.withLock({ $0 }) != nil, linksBack.withLock({ $0 }) != nil { return }
                usleep(5_000)
            }
        }
    }

    func stop() {
        stopped.withLock { $0 = true }
    }
}

/// User and system CPU time of this process so far, in seconds (every thread).
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
