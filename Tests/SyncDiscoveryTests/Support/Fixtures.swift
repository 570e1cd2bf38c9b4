import SyncDiscovery
import Foundation
import Logging

/// Builders for test advertisements with unique node ids and names.
enum Fixtures {
    /// A short random suffix, so records left in the daemon's cache by earlier tests never match.
    static func suffix() -> String {
        String(UUID().uuidString.prefix(8)).lowercased()
    }

    static func advertisement(node: String, name: String, port: UInt16, uplink: Bool = false) -> ServiceAdvertisement {
        ServiceAdvertisement(
            instanceName: name, port: port, nodeID: node, protocolVersion: "1", teamID: "team-lab", hasUplink: uplink)
    }

    /// A discovery on IPv4 (the namespace's daemon runs with `use-ipv6=no`).
    static func discovery(node: String, name: String, port: UInt16, uplink: Bool = false) -> AvahiDiscovery {
        AvahiDiscovery(
            advertisement: advertisement(node: node, name: name, port: port, uplink: uplink), ipFamily: .ipv4,
            logger: logger(node))
    }

    /// Two discoveries of one test, nodes `a-<id>` and `b-<id>` on `ports`, each with its recorder.
    struct Pair {
        let id: String
        let a: AvahiDiscovery
        let b: AvahiDiscovery
        let eventsA: EventRecorder
        let eventsB: EventRecorder

        /// Starts both.
        func start() throws {
            try a.start()
            try b.start()
        }

        /// Starts both and waits until each has found the other.
        func startAndMeet() async throws {
            try start()
            _ = try await eventsA.peer("b-\(id)")
            _ = try await eventsB.peer("a-\(id)")
        }

        /// Stops both (stopping twice is safe).
        func stop() {
            a.stop()
            b.stop()
        }
    }

    /// A pair named `lab-<id>` both (`sameName`, a name collision) or `lab-<id>-a` and `lab-<id>-b`.
    static func pair(ports: (UInt16, UInt16), sameName: Bool) -> Pair {
        let id = suffix()
        let a = discovery(node: "a-\(id)", name: sameName ? "lab-\(id)" : "lab-\(id)-a", port: ports.0)
        let b = discovery(node: "b-\(id)", name: sameName ? "lab-\(id)" : "lab-\(id)-b", port: ports.1)
        return Pair(id: id, a: a, b: b, eventsA: .recording(a), eventsB: .recording(b))
    }

    /// A logger per node; `AVAHI_TEST_LOG=debug` (or `trace`) shows what Avahi reports.
    static func logger(_ node: String) -> Logger {
        var logger = Logger(label: "synclayer.avahi.\(node)")
        let level = ProcessInfo.processInfo.environment["AVAHI_TEST_LOG"].flatMap(Logger.Level.init(rawValue:))
        logger.logLevel = level ?? .info
        return logger
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }
}
