import SyncDiscovery

/// Thrown when an awaited event did not arrive in time.
struct EventTimeout: Error, CustomStringConvertible {
    let waitingFor: String
    let timeout: Duration
    let seen: [DiscoveryEvent]
    var description: String { "no \(waitingFor) within \(timeout); events so far: \(seen)" }
}

/// Records one discovery's events and lets a test await the next one that matches, with a bound.
actor EventRecorder {
    private(set) var events: [DiscoveryEvent] = []
    private var finished = false
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiterID = 0

    private struct Waiter {
        let from: Int
        let predicate: @Sendable (DiscoveryEvent) -> Bool
        let continuation: CheckedContinuation<(index: Int, event: DiscoveryEvent), any Error>
        let timer: Task<Void, Never>
        let what: String
        let timeout: Duration
    }

    /// Starts recording `discovery.events` (until the stream finishes, at `stop()`).
    static func recording(_ discovery: AvahiDiscovery) -> EventRecorder {
        let recorder = EventRecorder()
        let events = discovery.events
        Task {
            for await event in events { await recorder.append(event) }
            await recorder.finish()
        }
        return recorder
    }

    /// How many events were recorded so far: pass it as `after` to await only later events.
    var count: Int { events.count }

    /// Returns the first event at index `after` or later that matches, waiting at most `timeout`.
    @discardableResult
    func waitFor(
        _ what: String,
        after start: Int = 0,
        timeout: Duration = .seconds(10),
        where predicate: @escaping @Sendable (DiscoveryEvent) -> Bool
    ) async throws -> (index: Int, event: DiscoveryEvent) {
        if let index = events.indices.dropFirst(start).first(where: { predicate(events[$0]) }) {
            return (index, events[index])
        }
        if finished { throw EventTimeout(waitingFor: "\(what) (stream finished)", timeout: .zero, seen: events) }
        let id = nextWaiterID
        nextWaiterID += 1
        return try await withCheckedThrowingContinuation { continuation in
            let timer = Task {
                try? await Task.sleep(for: timeout)
                self.expire(id)
            }
            waiters[id] = Waiter(
                from: start, predicate: predicate, continuation: continuation, timer: timer, what: what,
                timeout: timeout)
        }
    }

    private func append(_ event: DiscoveryEvent) {
        events.append(event)
        let index = events.count - 1
        for (id, waiter) in waiters where index >= waiter.from && waiter.predicate(event) {
            waiters[id] = nil
            waiter.timer.cancel()
            waiter.continuation.resume(returning: (index, event))
        }
    }

    private func finish() {
        finished = true
        for (id, waiter) in waiters {
            waiters[id] = nil
            waiter.timer.cancel()
            waiter.continuation.resume(
                throwing: EventTimeout(waitingFor: "\(waiter.what) (stream finished)", timeout: .zero, seen: events))
        }
    }

    private func expire(_ id: Int) {
        guard let waiter = waiters.removeValue(forKey: id) else { return }
        waiter.continuation.resume(
            throwing: EventTimeout(waitingFor: waiter.what, timeout: waiter.timeout, seen: events))
    }
}

extension EventRecorder {
    /// Awaits a `.peerFound` for `nodeID` (optionally one that also satisfies `condition`).
    func peer(
        _ nodeID: String, after start: Int = 0, timeout: Duration = .seconds(10),
        where condition: @escaping @Sendable (DiscoveredPeer) -> Bool = { _ in true }
    ) async throws -> DiscoveredPeer {
        let match = try await waitFor("peerFound(\(nodeID))", after: start, timeout: timeout) { event in
            guard case .peerFound(let peer) = event else { return false }
            return peer.nodeID == nodeID && condition(peer)
        }
        guard case .peerFound(let peer) = match.event else { fatalError("predicate matched another event") }
        return peer
    }

    /// Awaits `.published(name:)` and returns the name.
    func publishedName(after start: Int = 0, timeout: Duration = .seconds(10)) async throws -> String {
        let match = try await waitFor("published", after: start, timeout: timeout) { event in
            if case .published = event { return true }
            return false
        }
        guard case .published(let name) = match.event else { fatalError("predicate matched another event") }
        return name
    }

    /// Every node id this discovery reported in `.peerFound`.
    var foundNodeIDs: Set<String> {
        Set(events.compactMap { event in
            if case .peerFound(let peer) = event { return peer.nodeID }
            return nil
        })
    }
}
