import BenchmarkSupport
import Foundation
import SyncTesting

/// The write system calls of a running process, traced by `strace` attached to all its threads
/// for one round. Tracing slows every call it stops at, so a round that counts calls measures
/// nothing else.
final class SyscallCount: Sendable {
    /// The calls a server can send a socket's data with.
    static let traced = ["writev", "write", "sendmsg", "sendto"]
    static let strace = "/usr/bin/strace"

    /// The calls counted: those to sockets (sending data to clients) by name, and the others
    /// (`write` to an eventfd that wakes an event loop, to a pipe or a file).
    struct Calls: Sendable {
        var toSockets: [String: Int] = [:]
        var other = 0
    }

    private let child: ChildProcess
    private let output: String

    private init(child: ChildProcess, output: String) {
        self.child = child
        self.output = output
    }

    /// Attaches `strace` to every thread of `pid` (threads it starts later are followed too),
    /// writing each call to a temporary file; returns once it is attached, within 10 s.
    static func attach(to pid: pid_t) async throws -> SyscallCount {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sync-benchmark-strace-\(getpid())-\(pid).txt").path
        guard FileManager.default.isExecutableFile(atPath: strace) else { throw BenchmarkError("\(strace) is not installed (apt-get install strace)") }
        // -y names each descriptor by its path (`12<socket:[…]>`); -s 0 leaves the data out.
        let child = try ChildProcess(executable: strace, arguments: ["-f", "-y", "-s", "0", "-e", "trace=" + traced.joined(separator: ","),
                                                                   "-o", output, "-p", "\(pid)"])
        // strace says "Process PID attached" once it holds every thread there is (with how many).
        let deadline = now() + 10
        while !child.standardError.contains("Process \(pid) attached") {
            if child.hasExited || now() > deadline {
                await PythonBroadcastServer.stop(child)
                throw BenchmarkError("strace did not attach to \(pid): \(child.standardError.suffix(300))")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return SyscallCount(child: child, output: output)
    }

    /// Detaches (SIGINT) and returns the calls traced.
    func detach() async throws -> Calls {
        child.send(SIGINT)
        let exited = (try? await withTimeout(10, "strace exit") { await self.child.waitForExit(); return true }) ?? false
        if !exited {
            await PythonBroadcastServer.stop(child)
            throw BenchmarkError("strace did not stop on SIGINT")
        }
        defer { try? FileManager.default.removeItem(atPath: output) }
        guard let data = FileManager.default.contents(atPath: output) else { throw BenchmarkError("strace wrote no \(output)") }
        let trace = String(decoding: data, as: UTF8.self)
        let calls = Self.parse(trace)
        guard !calls.toSockets.isEmpty else {
            throw BenchmarkError("no call to a socket in strace's output, which begins: \(trace.prefix(200))")
        }
        return calls
    }

    /// Ends strace without a count, for a round that failed.
    func cancel() async {
        await PythonBroadcastServer.stop(child)
        try? FileManager.default.removeItem(atPath: output)
    }

    /// Counts the calls in strace's output with -f and -y: one line per call, `PID name(FD<PATH>, …`
    /// (a call another thread interrupted goes on in a line `PID <... name resumed>`, not counted again).
    static func parse(_ trace: String) -> Calls {
        var calls = Calls()
        for line in trace.split(separator: "\n") {
            // A line starts with the pid of the thread, padded with spaces to a common width.
            let call = line.drop(while: \.isNumber).drop(while: { $0 == " " })
            guard let open = call.firstIndex(of: "("), traced.contains(String(call[..<open])) else { continue }
            if call[open...].dropFirst().drop(while: \.isNumber).hasPrefix("<socket:") {
                calls.toSockets[String(call[..<open]), default: 0] += 1
            } else {
                calls.other += 1
            }
        }
        return calls
    }
}
