import SyncDiscovery
import Testing

extension LiveDiscoveryTests {
    @Test func stoppedPeerIsReportedRemoved() async throws {
        let id = Fixtures.suffix()
        let a = Fixtures.discovery(node: "a-\(id)", name: "lab-\(id)", port: 41021)
        let b = Fixtures.discovery(node: "b-\(id)", name: "lab-\(id)", port: 41022)
        defer { a.stop() }
        let eventsA = EventRecorder.recording(a)
        let eventsB = EventRecorder.recording(b)
        try a.start()
        try b.start()
        _ = try await eventsA.peer("b-\(id)")
        _ = try await eventsB.peer("a-\(id)")

        let clock = ContinuousClock()
        let start = clock.now
        b.stop()
        try await eventsA.waitFor("peerRemoved(b)") { $0 == .peerRemoved(nodeID: "b-\(id)") }
        print("measure: stop() -> peerRemoved at the other node: \(Fixtures.milliseconds(clock.now - start)) ms")
        #expect(await !eventsA.events.contains(.peerRemoved(nodeID: "a-\(id)")))
    }

    @Test func uplinkChangeReachesThePeer() async throws {
        let id = Fixtures.suffix()
        let a = Fixtures.discovery(node: "a-\(id)", name: "lab-\(id)-a", port: 41031)
        let b = Fixtures.discovery(node: "b-\(id)", name: "lab-\(id)-b", port: 41032, uplink: false)
        defer {
            a.stop()
            b.stop()
        }
        let eventsA = EventRecorder.recording(a)
        let eventsB = EventRecorder.recording(b)
        try a.start()
        try b.start()
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
