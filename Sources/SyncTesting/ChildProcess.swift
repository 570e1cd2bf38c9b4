import Foundation
import SyncCore

/// A child process whose standard output arrives as lines, which a test can kill with any signal.
///
/// Built on `posix_spawn`, one reader thread per output pipe (blocking `read` until end of file) and
/// one thread blocked in `waitpid`, so no output and no exit can be missed.
package final class ChildProcess: Sendable {
    /// The child's pid.
    package let pid: pid_t
    private let lineStream: AsyncStream<String>
    private let exit = Locked<Int32?>(nil)
    private let exitStream: AsyncStream<Int32>
    private let errorText = Locked<[UInt8]>([])

    /// Starts `executable` with `arguments` (and `environment`, else this process's).
    package init(executable: String, arguments: [String], environment: [String: String]? = nil) throws {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw ChildProcessError(message: "pipe failed: \(errno)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in outPipe + errPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in env { free(pointer) } }
        var child: pid_t = 0
        // The child starts with no signal blocked: it would otherwise inherit the mask of the thread
        // that spawns it, and the threads async code runs on block SIGTERM and SIGINT, so a child
        // started there ignored them until SIGKILL (and strace never printed on SIGINT).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, env)
        close(outPipe[1])
        close(errPipe[1])
        guard status == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw ChildProcessError(message: "could not start \(executable): error \(status)")
        }
        pid = child

        let (lines, lineContinuation) = AsyncStream.makeStream(of: String.self)
        lineStream = lines
        let (exits, exitContinuation) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .bufferingNewest(1))
        exitStream = exits
        let outFD = outPipe[0], errFD = errPipe[0]
        Thread.detachNewThread {
            var partial: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(outFD, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                partial.append(contentsOf: buffer[0..<count])
                while let newline = partial.firstIndex(of: 0x0A) {
                    lineContinuation.yield(String(decoding: partial[..<newline], as: UTF8.self))
                    partial.removeSubrange(...newline)
                }
            }
            if !partial.isEmpty { lineContinuation.yield(String(decoding: partial, as: UTF8.self)) }
            close(outFD)
            lineContinuation.finish()
        }
        let errors = errorText
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 16_384)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(errFD, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                errors.withLock { text in if text.count < 65_536 { text.append(contentsOf: buffer[0..<count]) } }
            }
            close(errFD)
        }
        let exitBox = exit
        let spawned = child
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(spawned, &status, 0) < 0 && errno == EINTR {}
            // WIFSIGNALED / WTERMSIG / WEXITSTATUS, spelled out: the macros do not import.
            let signal = status & 0x7F
            let code = signal != 0 ? signal : (status >> 8) & 0xFF
            exitBox.withLock { $0 = code }
            exitContinuation.yield(code)
            exitContinuation.finish()
        }
    }

    /// Lines the child writes to standard output, as they arrive; ends when it closes its output.
    package var lines: AsyncStream<String> { lineStream }

    /// What the child wrote to standard error so far (at most 64 KiB).
    package var standardError: String {
        errorText.withLock { String(decoding: $0, as: UTF8.self) }
    }

    /// Sends `signal` to the child.
    package func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// Waits for the child to exit; returns its exit code, or the signal that killed it.
    @discardableResult
    package func waitForExit() async -> Int32 {
        if let status = exit.withLock({ $0 }) { return status }
        for await status in exitStream { return status }
        return exit.withLock { $0 } ?? -1
    }

    /// Whether the child has exited.
    package var hasExited: Bool {
        exit.withLock { $0 != nil }
    }
}

/// The child could not be started.
package struct ChildProcessError: Error, CustomStringConvertible {
    package let message: String

    package init(message: String) {
        self.message = message
    }

    package var description: String { message }
}

/// Where the built `synclayer` executable is: `SYNCLAYER_BINARY`, else beside the running test bundle.
package func synclayerExecutable() throws -> String {
    if let path = ProcessInfo.processInfo.environment["SYNCLAYER_BINARY"] { return path }
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("synclayer").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw ChildProcessError(message: "the synclayer executable was not found beside the tests; run `swift build` first or set SYNCLAYER_BINARY")
}
