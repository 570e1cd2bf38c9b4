import BenchmarkSupport
import Foundation

/// Memory of another process, read from `/proc/PID/status`. Sizes in bytes.
enum ProcessMemory {
    /// A process's resident set now (`VmRSS`) and at its peak so far (`VmHWM`).
    struct Reading: Sendable {
        var resident: Int
        var peak: Int
        /// Of `resident`: anonymous memory (heap, stacks), and pages of mapped files (the executable
        /// and its shared libraries, which other processes running them share).
        var anonymous: Int
        var file: Int
    }

    /// `VmRSS` and `VmHWM` of `pid`; `nil` when the process is gone.
    static func read(_ pid: pid_t) -> Reading? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        var fields: [Substring: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kilobytes = Int(parts[1]) else { continue }
            fields[parts[0]] = kilobytes * 1024
        }
        guard let resident = fields["VmRSS:"], let peak = fields["VmHWM:"] else { return nil }
        return Reading(resident: resident, peak: peak, anonymous: fields["RssAnon:"] ?? 0, file: fields["RssFile:"] ?? 0)
    }

    /// Starts `executable` with `arguments`, its standard input a pipe that stays open and its
    /// output discarded, waits `settle` seconds and reads its memory; then closes the pipe and ends
    /// the process (SIGKILL, by its pid). For a baseline process of the same binary that waits on
    /// its input and does nothing else. (Not `wait4`'s `ru_maxrss`: a child started by
    /// `posix_spawn` shares this process's memory until its `exec`, so that peak includes ours.)
    static func readWhileWaiting(_ executable: String, _ arguments: [String], settle: Double = 1) async throws -> Reading {
        var input: [Int32] = [0, 0]
        guard pipe(&input) == 0 else { throw BenchmarkError("pipe failed: \(errno)") }
        defer { close(input[1]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_addclose(&actions, input[0])
        posix_spawn_file_actions_addclose(&actions, input[1])
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in environment { free(pointer) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, executable, &actions, nil, argv, environment)
        close(input[0])
        guard spawned == 0 else { throw BenchmarkError("could not start \(executable): error \(spawned)") }
        try? await Task.sleep(for: .seconds(settle))
        let reading = read(child)
        kill(child, SIGKILL)
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        guard let reading else { throw BenchmarkError("\(executable) \(arguments.joined(separator: " ")) ended before it was read") }
        return reading
    }

    /// Raises this process's open-file limit to its hard limit (children inherit it); returns the
    /// soft limit now in force.
    @discardableResult
    static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(limit.rlim_cur)
    }

    /// `bytes` in MB (10^6), one decimal.
    static func megabytes(_ bytes: Int) -> String {
        String(format: "%.1f MB", Double(bytes) / 1e6)
    }
}
