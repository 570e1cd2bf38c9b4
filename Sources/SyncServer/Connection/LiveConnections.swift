import NIOCore
import Synchronization

/// The WebSocket connections being served. No task waits on a connection while it is open (that
/// task cost about 3.6 kB per connection): its channel's close starts a short task that lets go of
/// it (``ServerConnection/ended()``). So the server keeps them here, to say goodbye to each on
/// graceful shutdown and to wait until all have ended before it closes the database.
final class LiveConnections: Sendable {
    private struct State {
        var open: [UInt64: ServerConnection] = [:]
        var shuttingDown = false
    }

    private let state = Mutex(State())

    /// Serves `connection` until `channel` closes; on a server that is shutting down, says goodbye at once.
    func serve(_ connection: ServerConnection, on channel: any Channel) {
        let shuttingDown = state.withLock { state in
            state.open[connection.id] = connection
            return state.shuttingDown
        }
        if shuttingDown { connection.shutDown() }
        channel.closeFuture.whenComplete { [self] _ in
            Task {
                await connection.ended()
                _ = state.withLock { $0.open.removeValue(forKey: connection.id) }
            }
        }
    }

    /// Says goodbye to every connection (an error frame and a close frame, then the close), and to
    /// any that opens from now on.
    func shutDown() {
        let open = state.withLock { state in
            state.shuttingDown = true
            return Array(state.open.values)
        }
        for connection in open { connection.shutDown() }
    }

    /// Says goodbye to every connection and returns once all have ended; those still open after
    /// `grace` (a client that stopped reading never takes the goodbye) are closed at once.
    func closeAll(grace: Duration) async {
        shutDown()
        let deadline = ContinuousClock.now + grace
        var aborted = false
        // Bounded: after `grace` every channel is closed without waiting for its writes, and the
        // last of them ends within a few event-loop turns.
        while !state.withLock({ $0.open.isEmpty }) {
            if !aborted, ContinuousClock.now >= deadline {
                aborted = true
                for connection in state.withLock({ Array($0.open.values) }) { connection.delivery.abort() }
            }
            if aborted, ContinuousClock.now >= deadline + grace { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
