import Foundation
import Testing

/// Runs in a child process: libdbus reads DBUS_SYSTEM_BUS_ADDRESS once per process, so the bogus
/// address cannot be set for one test inside the shared test process.
@Suite("No reachable Avahi daemon")
struct NoDaemonTests {
    @Test func startWithoutDBusReportsDaemonNotRunningAndDoesNotCrash() throws {
        let probe = AvahiTestEnvironment.probeExecutable
        try #require(
            FileManager.default.isExecutableFile(atPath: probe.path),
            "avahi-probe not built at \(probe.path); run `swift build` or set AVAHI_PROBE")
        let process = Process()
        process.executableURL = probe
        process.arguments = ["--node", "lonely", "--seconds", "5", "--exit-when-unavailable"]
        var environment = ProcessInfo.processInfo.environment
        environment["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/synclayer-test/system_bus_socket"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // The probe bounds itself (5 s); EOF comes when it exits.
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        print("avahi-probe without D-Bus said: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
        #expect(
            text.contains("start failed: daemonNotRunning") || text.contains("event: daemonUnavailable"))
        #expect(text.contains("Daemon not running") || text.contains("daemonUnavailable"))
    }
}
