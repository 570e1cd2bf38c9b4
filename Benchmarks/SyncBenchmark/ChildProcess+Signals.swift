import Foundation
import SyncTesting

extension ChildProcess {
    /// Starts `executable` from a new thread that blocks no signal, so that the child can be
    /// stopped with SIGTERM or SIGINT. A child inherits the signal mask of the thread that starts
    /// it, and the threads async code runs on block most signals: a child started there ignores
    /// SIGTERM until SIGKILL, and `strace` never prints its summary on SIGINT.
    static func startUnblocked(_ executable: String, _ arguments: [String]) async throws -> ChildProcess {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var none = sigset_t()
                sigemptyset(&none)
                pthread_sigmask(SIG_SETMASK, &none, nil)
                continuation.resume(with: Result { try ChildProcess(executable: executable, arguments: arguments) })
            }
        }
    }
}
