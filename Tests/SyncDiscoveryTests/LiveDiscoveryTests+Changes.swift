import SyncDiscovery
import Testing

extension LiveDiscoveryTests {
    @Test func stoppedPeerIsReportedRemoved() async throws {
        let pair = Fixtures.pair(ports: (41021, 41022), sameName: true)
        defer { pair.stop() }
        let (id, b, eventsA) = (pair.id, pair.b, pair.eventsA)
        try await pair.startAndMeet()

        let clock = ContinuousClock()
        let start = clock.now
        b.stop()
        try await eventsA.waitFor("peerRemoved(b)") { $0 == .peerRemoved(nodeID: "b-\(id)") }
        print("measure: stop() -> peerRemoved at the other node: \(Fixtures.milliseconds(clock.now - start)) ms")
        #expect(await !eventsA.events.contains(.peerRemoved(nodeID: "a-\(id)")))
    }

    @Test func uplinkChangeReachesThePeer() async throws {
        let pair = Fixtures.pair(ports: (41031, 41032), sameName: false)
        defer { pair.stop() }
        let (id, b, eventsA, eventsB) = (pair.id, pair.b, pair.eventsA, pair.eventsB)
        try pair.start()
        let before = try await eventsA.peer("b-\(id)")
        #expect(before.hasUplink == false)
        _ = try await eventsB.publishedName()

        let mark = await eventsA.count
        let clock = ContinuousClock()
        let start = clock.now
        try b.setUplink(true)
        let after = try await eventsA.peer("b-\(id)", after: mark) { $0.hasUplink }
        print("measure: setUplink(true) -> peer sees uplink=1: \(Fixtures.milliseconds(clock.now - start)) ms")
        #expect(after.txt["node"] == "b-\(id)")
        #expect(after.txt["team"] == "team-lab")
        #expect(after.port == 41032)
        #expect(b.advertisement.hasUplink)

        let markBack = await eventsA.count
        try b.setUplink(false)
        _ = try await eventsA.peer("b-\(id)", after: markBack) { !$0.hasUplink }
    }
}
