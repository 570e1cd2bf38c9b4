import BenchmarkSupport
import Foundation

/// CPU time used by processes, in seconds.
enum ProcessCPU {
    /// A process's parent, the CPU seconds (user + system) it has used and the part of them spent in
    /// the kernel (system), from `/proc/PID/stat`; `nil` when it is gone. The kernel reports these in clock ticks (10 ms here): fine over seconds,
    /// too coarse for a round that costs a server tens of milliseconds (``read(_:)`` is exact).
    static func stat(_ pid: pid_t) -> (parent: pid_t, cpu: Double, system: Double)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After the command's ")": state is field 3, ppid field 4, utime field 14, stime field 15 (index = field - 3).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let parent = pid_t(fields[1]), let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (parent, (user + system) / tick, system / tick)
    }

    /// Another process's CPU time at one moment.
    struct Reading: Sendable {
        /// Each thread's nanoseconds on a CPU (`/proc/PID/task/TID/schedstat`, exact), by thread id.
        var threads: [Int32: UInt64]
        /// The whole process's seconds from ``stat(_:)``, which keeps the time of threads that ended.
        var process: Double
        /// The part of `process` spent in the kernel (system calls, and on loopback the receiving
        /// end's TCP work, which the sender's call does), in clock ticks like `process`.
        var system: Double
    }

    /// The CPU time of `pid` and of each of its threads now; `nil` when it is gone.
    static func read(_ pid: pid_t) -> Reading? {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return nil }
        var threads: [Int32: UInt64] = [:]
        for task in tasks {
            guard let id = Int32(task), let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/schedstat", encoding: .utf8),
                  let nanoseconds = text.split(separator: " ").first.flatMap({ UInt64($0) }) else { continue }
            threads[id] = nanoseconds
        }
        guard let process = stat(pid) else { return nil }
        return Reading(threads: threads, process: process.cpu, system: process.system)
    }

    /// The CPU seconds a process used from `start` to `end`: its threads' exact times (a thread
    /// started in between counts from 0), unless a thread of `start` had ended by `end`, whose time
    /// since `start` is then lost; in that case the coarser whole-process figure.
    static func used(from start: Reading, to end: Reading) -> Double {
        guard start.threads.keys.allSatisfy({ end.threads[$0] != nil }) else { return end.process - start.process }
        let nanoseconds = end.threads.reduce(UInt64(0)) { $0 + $1.value - min($1.value, start.threads[$1.key] ?? 0) }
        return Double(nanoseconds) / 1e9
    }

    /// This process's CPU seconds so far, user and system, all threads including ended ones
    /// (`getrusage`: the same time as `/proc/self/stat`, in microseconds instead of clock ticks).
    static func own() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
