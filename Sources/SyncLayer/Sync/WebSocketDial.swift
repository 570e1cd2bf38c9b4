import Synchronization
import SyncCore

/// A connection did not complete its WebSocket upgrade in time.
struct HandshakeTimeout: Error {}

/// One outbound WebSocket connection and the session run on it, for the realtime link and mesh
/// links alike: the swift-websocket workaround in one place, its decisions made by
/// ``DialStateMachine``.
///
/// ``run(upgradeDeadline:_:)`` starts the connection in a task of its own and waits for it to end.
/// It stops waiting (and the connection ends on its own) when the caller is cancelled or calls
/// ``abandon()``, or when the upgrade has not completed by the deadline. The connection's upgrade
/// handler calls ``upgraded(closeSession:)`` first and runs its session only when told to.
final class WebSocketDial: Sendable {
    private struct State {
        var machine = DialStateMachine()
        var waiter: CheckedContinuation<Void, any Error>?
        /// The waiter stopped waiting before it was installed (an early cancellation).
        var outcome: Result<Void, any Error>?
        var closeSession: (@Sendable () -> Void)?
        var connection: Task<Void, Never>?
    }

    private let state = Mutex(State())

    init() {}

    /// Starts `connect` in its own task and returns when the connection ended, rethrowing its error.
    ///
    /// - Throws: `CancellationError` when the caller is cancelled or ``abandon()`` is called first;
    ///   ``HandshakeTimeout`` when the upgrade has not completed within `upgradeDeadline`.
    func run(upgradeDeadline: Duration, _ connect: @escaping @Sendable () async throws -> Void) async throws {
        // Unstructured on purpose: cancelling the connect half-way would leave its socket open, so the
        // connection runs to its own end, and reports it (``connectionEnded(_:)``).
        let connection = Task {
            let result: Result<Void, any Error>
            do {
                try await connect()
                result = .success(())
            } catch {
                result = .failure(error)
            }
            self.connectionEnded(result)
        }
        state.withLock { $0.connection = connection }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await Task.sleep(for: upgradeDeadline)
                if !Task.isCancelled {
                    self.giveUp(self.state.withLock { $0.machine.upgradeDeadlinePassed() }, with: HandshakeTimeout())
                }
                return false
            }
            group.addTask {
                try await withTaskCancellationHandler {
                    try await self.outcome()
                } onCancel: {
                    self.abandon()
                }
                return true
            }
            // The deadline's child ends without the outcome when the upgrade was in time.
            for try await isOutcome in group where isOutcome {
                group.cancelAll()
                return
            }
        }
    }

    /// Called by the connection's upgrade handler before anything else: whether to run the session.
    /// `closeSession` ends the session (and so the connection) if the dial is abandoned while it runs.
    func upgraded(closeSession: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state in
            guard state.machine.upgradeCompleted() == .runSession else { return false }
            state.closeSession = closeSession
            return true
        }
    }

    /// Cuts the connection's input, which ends a session's reader (reading ends on neither
    /// cancellation nor an unanswered close frame).
    func abort() {
        state.withLock { $0.connection }?.cancel()
    }

    /// Stops waiting and closes the session if one runs; the connection ends on its own.
    func abandon() {
        giveUp(state.withLock { $0.machine.abandon() }, with: CancellationError())
    }

    private func giveUp(_ action: DialStateMachine.AbandonAction, with error: any Error) {
        let (waiter, close): (CheckedContinuation<Void, any Error>?, (@Sendable () -> Void)?) = state.withLock { state in
            switch action {
            case .none:
                return (nil, nil)
            case .stopWaiting, .stopWaitingAndCloseSession:
                let waiter = state.waiter
                state.waiter = nil
                if waiter == nil { state.outcome = .failure(error) }
                return (waiter, action == .stopWaitingAndCloseSession ? state.closeSession : nil)
            }
        }
        close?()
        waiter?.resume(throwing: error)
    }

    private func connectionEnded(_ result: Result<Void, any Error>) {
        let waiter: CheckedContinuation<Void, any Error>? = state.withLock { state in
            guard state.machine.connectionEnded() else { return nil }
            let waiter = state.waiter
            state.waiter = nil
            if waiter == nil { state.outcome = result }
            return waiter
        }
        waiter?.resume(with: result)
    }

    /// Waits for the outcome: the connection's end, or giving up.
    private func outcome() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let ready: Result<Void, any Error>? = state.withLock { state in
                if let outcome = state.outcome { return outcome }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
