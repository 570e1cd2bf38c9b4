import Foundation

/// The private avahi-daemon that `scripts/with-avahi` starts, and ways to stop and restart it.
enum AvahiTestEnvironment {
    private static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Whether the tests run inside `scripts/with-avahi` (a private namespace with only `lo`).
    static var isAvailable: Bool {
        environment["AVAHI_DAEMON_CONF"] != nil && environment["SKIP_AVAHI"] != "1"
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The running daemon's pid: from its pid file (current after a restart), else from the script.
    static func daemonPID() throws -> pid_t {
        if let path = environment["AVAHI_DAEMON_PIDFILE"],
            let text = try? String(contentsOfFile: path, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return pid
        }
        guard let text = environment["AVAHI_DAEMON_PID"], let pid = pid_t(text) else {
            throw Failure(description: "no AVAHI_DAEMON_PIDFILE or AVAHI_DAEMON_PID: run under scripts/with-avahi")
        }
        return pid
    }

    /// Sends SIGTERM to the daemon (checked by name first) and returns its pid.
    static func stopDaemon() throws -> pid_t {
        let pid = try daemonPID()
        let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        guard comm.trimmingCharacters(in: .whitespacesAndNewlines) == "avahi-daemon" else {
            throw Failure(description: "pid \(pid) is not avahi-daemon (comm '\(comm)')")
        }
        guard kill(pid, SIGTERM) == 0 else { throw Failure(description: "kill(\(pid)) failed: errno \(errno)") }
        return pid
    }

    /// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
    static func hasExited(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        guard let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// Polls (bounded) until `pid` has exited: the daemon leaves D-Bus a moment before it exits
    /// and removes its pid file, and a new daemon refuses to start while the old one runs.
    static func waitUntilExited(_ pid: pid_t, within limit: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + limit
        while !hasExited(pid) {
            guard ContinuousClock.now < deadline else {
                throw Failure(description: "avahi-daemon \(pid) still running after \(limit)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Starts the daemon again with the script's command line (`-D`: it daemonizes once ready).
    static func startDaemon() throws {
        guard let conf = environment["AVAHI_DAEMON_CONF"] else {
            throw Failure(description: "no AVAHI_DAEMON_CONF: run under scripts/with-avahi")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: environment["AVAHI_DAEMON_BIN"] ?? "/usr/sbin/avahi-daemon")
        process.arguments = ["--no-drop-root", "--no-chroot", "--no-rlimits", "-f", conf, "-D"]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "avahi-daemon -D exited with \(process.terminationStatus)")
        }
    }

    /// The `avahi-probe` executable built next to the test bundle (or `AVAHI_PROBE`).
    static var probeExecutable: URL {
        if let path = environment["AVAHI_PROBE"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: CommandLine.arguments[0])
            .deletingLastPathComponent()
            .appendingPathComponent("avahi-probe")
    }
}
