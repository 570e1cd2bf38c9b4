import SyncDiscovery
import Testing

extension LiveDiscoveryTests {
    @Test func discoveryRecoversWhenTheDaemonRestarts() async throws {
        let pair = Fixtures.pair(ports: (41041, 41042), sameName: true)
        defer { pair.stop() }
        let (id, eventsA, eventsB) = (pair.id, pair.eventsA, pair.eventsB)
        try await pair.startAndMeet()

        let markA = await eventsA.count
        let markB = await eventsB.count
        var daemonDown = true
        let pid = try AvahiTestEnvironment.stopDaemon()
        defer { if daemonDown { try? AvahiTestEnvironment.startDaemon() } }
        try await eventsA.waitFor("daemonUnavailable", after: markA) { if case .daemonUnavailable = $0 { true } else { false } }
        try await eventsB.waitFor("daemonUnavailable", after: markB) { if case .daemonUnavailable = $0 { true } else { false } }
        try await AvahiTestEnvironment.waitUntilExited(pid)

        let clock = ContinuousClock()
        let restart = clock.now
        try AvahiTestEnvironment.startDaemon()
        daemonDown = false
        let restoredA = try await eventsA.waitFor("daemonRestored", after: markA, timeout: .seconds(15)) {
            $0 == .daemonRestored
        }
        let restoredB = try await eventsB.waitFor("daemonRestored", after: markB, timeout: .seconds(15)) {
            $0 == .daemonRestored
        }
        let againA = try await eventsA.peer("b-\(id)", after: restoredA.index, timeout: .seconds(15))
        let againB = try await eventsB.peer("a-\(id)", after: restoredB.index, timeout: .seconds(15))
        print("measure: daemon restart -> peers seen again: \(Fixtures.milliseconds(clock.now - restart)) ms")
        #expect(againA.port == 41042 && againA.address == "127.0.0.1")
        #expect(againB.port == 41041 && againB.address == "127.0.0.1")
        _ = try await eventsA.publishedName(after: restoredA.index)
        #expect(await !eventsA.foundNodeIDs.contains("a-\(id)"))
    }

    @Test func startWithoutTheDaemonWaitsForIt() async throws {
        let id = Fixtures.suffix()
        var daemonDown = true
        let pid = try AvahiTestEnvironment.stopDaemon()
        defer { if daemonDown { try? AvahiTestEnvironment.startDaemon() } }
        try await AvahiTestEnvironment.waitUntilExited(pid)

        let a = Fixtures.discovery(node: "a-\(id)", name: "lab-\(id)", port: 41051)
        defer { a.stop() }
        let eventsA = EventRecorder.recording(a)
        try a.start()  // D-Bus is up, the daemon is not: no throw, a daemonUnavailable event.
        try await eventsA.waitFor("daemonUnavailable") { if case .daemonUnavailable = $0 { true } else { false } }

        try AvahiTestEnvironment.startDaemon()
        daemonDown = false
        try await eventsA.waitFor("daemonRestored", timeout: .seconds(15)) { $0 == .daemonRestored }
        #expect(try await eventsA.publishedName(timeout: .seconds(15)) == "lab-\(id)")
    }
}
