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
