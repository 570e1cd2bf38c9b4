import Synchronization
import SyncCore

/// Fans events out to every subscriber, each with its own bounded buffer, so a slow subscriber
/// loses its oldest events rather than growing memory or slowing the node.
final class EventHub: Sendable {
    private let subscribers = Mutex<[UInt64: AsyncStream<SyncEvent>.Continuation]>([:])
    private let nextID = Atomic<UInt64>(1)
    private let bufferSize: Int

    init(bufferSize: Int = 4096) {
        self.bufferSize = bufferSize
    }

    /// A new stream of every event from now on.
    func subscribe() -> AsyncStream<SyncEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: SyncEvent.self, bufferingPolicy: .bufferingNewest(bufferSize))
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    /// Whether anyone listens.
    var hasSubscribers: Bool {
        subscribers.withLock { !$0.isEmpty }
    }

    /// Delivers `event` to every subscriber; the event is not even built when there are none.
    func emit(_ event: @autoclosure () -> SyncEvent) {
        let targets = subscribers.withLock { $0.isEmpty ? [] : Array($0.values) }
        guard !targets.isEmpty else { return }
        let built = event()
        for continuation in targets { continuation.yield(built) }
    }

    /// Ends every subscriber's stream.
    func finish() {
        let targets = subscribers.withLock { subscribers in
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }
        for continuation in targets { continuation.finish() }
    }
}
