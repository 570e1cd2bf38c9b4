import SyncDiscovery
import Testing

/// Against the real avahi-daemon of `scripts/with-avahi` (a namespace with only `lo`).
/// Serialized: one test stops and restarts the daemon.
@Suite(
    "Live discovery (run under scripts/with-avahi)",
    .serialized,
    .enabled(if: AvahiTestEnvironment.isAvailable, "needs the private daemon of scripts/with-avahi"),
    .timeLimit(.minutes(1))
)
struct LiveDiscoveryTests {
    @Test func twoNodesWithTheSameNameFindEachOtherButNotThemselves() async throws {
        let pair = Fixtures.pair(ports: (41001, 41002), sameName: true)
        defer { pair.stop() }
        let (id, a, b, eventsA, eventsB) = (pair.id, pair.a, pair.b, pair.eventsA, pair.eventsB)
        let name = "lab-\(id)"

        let clock = ContinuousClock()
        let startA = clock.now
        try a.start()
        let startB = clock.now
        try b.start()
        let aSeenByB = try await eventsB.peer("a-\(id)")
        let elapsedB = clock.now - startB
        let bSeenByA = try await eventsA.peer("b-\(id)")
        let elapsedA = clock.now - startA
        print(
            "measure: start() -> first peerFound, both starting together: "
                + "A \(Fixtures.milliseconds(elapsedA)) ms, B \(Fixtures.milliseconds(elapsedB)) ms")

        #expect(bSeenByA.port == 41002)
        #expect(aSeenByB.port == 41001)
        #expect(bSeenByA.address == "127.0.0.1")
        #expect(aSeenByB.address == "127.0.0.1")
        #expect(bSeenByA.txt["team"] == "team-lab" && bSeenByA.txt["proto"] == "1")

        let nameA = try await eventsA.publishedName()
        let nameB = try await eventsB.publishedName()
        #expect(Set([nameA, nameB]).count == 2, "one of the two was renamed")
        #expect([nameA, nameB].contains(name))
        #expect([nameA, nameB].contains { $0 != name && $0.hasPrefix(name) })
        #expect(bSeenByA.instanceName == nameB)
        #expect(aSeenByB.instanceName == nameA)

        // Other nodes may show up (the daemon caches earlier tests' services for ~1 s after their
        // goodbye), but never the node itself.
        #expect(await !eventsA.foundNodeIDs.contains("a-\(id)"), "A never reports itself")
        #expect(await !eventsB.foundNodeIDs.contains("b-\(id)"), "B never reports itself")
    }

    @Test func joiningNodeFindsAnEstablishedPeerWellUnderTwoSeconds() async throws {
        let pair = Fixtures.pair(ports: (41011, 41012), sameName: false)
        defer { pair.stop() }
        let (id, a, b, eventsA, eventsB) = (pair.id, pair.a, pair.b, pair.eventsA, pair.eventsB)
        try a.start()
        _ = try await eventsA.publishedName()

        let clock = ContinuousClock()
        let start = clock.now
        try b.start()
        _ = try await eventsB.peer("a-\(id)")
        let elapsed = clock.now - start
        print("measure: start() -> first peerFound, peer already published: \(Fixtures.milliseconds(elapsed)) ms")
        #expect(elapsed < .seconds(2))
        _ = try await eventsA.peer("b-\(id)")
    }
}
