import Logging
import SyncLayer
import SyncCore
import SyncServer
import SyncStore

/// A node syncing with a test server, running in the background until ``stop()``.
package final class TestNode: Sendable {
    /// The node.
    package let node: SyncNode
    private let task: Task<Void, any Error>

    private init(node: SyncNode, task: Task<Void, any Error>) {
        self.node = node
        self.task = task
    }

    /// Opens a node at `path` syncing `collections` with the server at `baseURL` (none: a node on
    /// its own, or on a mesh), and starts it. `configure` can change the configuration first.
    package static func start(path: String, baseURL: String?, collections: [String] = ["todos"], realtime: Bool = true,
                             configure: (inout SyncConfiguration) -> Void = { _ in }) async throws -> TestNode {
        var configuration = SyncConfiguration(databasePath: path, baseURL: baseURL, collections: collections)
        configuration.enableRealtimeSync = realtime && baseURL != nil
        configuration.websocketReconnectDelay = .milliseconds(100)
        configuration.syncInterval = .seconds(5)
        configure(&configuration)
        var logger = Logger(label: "test.node")
        logger.logLevel = .warning
        let node = try await SyncNode.open(configuration, logger: logger)
        let task = Task { try await node.run() }
        return TestNode(node: node, task: task)
    }

    /// Waits until the realtime link is connected.
    package func waitUntilConnected() async {
        for await state in node.linkStates() where state == .connected { return }
    }

    /// Waits until the link reaches `wanted`.
    package func waitFor(_ wanted: LinkState) async {
        for await state in node.linkStates() where state == wanted { return }
    }

    /// Stops syncing and closes the node.
    package func stop() async {
        task.cancel()
        _ = try? await task.value
        await node.close()
    }
}

/// Waits until `condition` holds, checking it now and again after each commit of `node`'s store.
/// Returns `false` when `timeout` passes first.
package func waitUntil(_ node: SyncNode, timeout: Duration = .seconds(30), _ condition: @escaping @Sendable () async throws -> Bool) async throws -> Bool {
    try await waitForCommits(observe: { node.store.observeCommits($0) }, remove: { node.store.removeObserver($0) },
                             timeout: timeout, condition)
}

/// A store whose commits a test can wait on.
package struct CommitSource: Sendable {
    let observe: @Sendable (@escaping @Sendable (StoreEvent) -> Void) -> UInt64
    let remove: @Sendable (UInt64) -> Void

    /// A node's store.
    package static func node(_ node: SyncNode) -> CommitSource {
        CommitSource(observe: { node.store.observeCommits($0) }, remove: { node.store.removeObserver($0) })
    }

    /// A server's store.
    package static func server(_ store: any ServerStorage) -> CommitSource {
        CommitSource(observe: { store.observeCommits($0) }, remove: { store.removeObserver($0) })
    }
}

/// Waits until `condition` holds, checking it now and again after each commit in any of `sources`.
/// Returns `false` when `timeout` passes first.
package func waitUntil(anyCommitIn sources: [CommitSource], timeout: Duration = .seconds(60),
                      _ condition: @escaping @Sendable () async throws -> Bool) async throws -> Bool {
    let (commits, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    let tokens = sources.map { source in (source, source.observe { _ in continuation.yield() }) }
    defer {
        for (source, token) in tokens { source.remove(token) }
        continuation.finish()
    }
    return try await waitFor(commits, continuation: continuation, timeout: timeout, condition)
}

/// Waits until `condition` holds, checking it now and again after each commit observed through
/// `observe`. Returns `false` when `timeout` passes first.
package func waitForCommits(observe: (@escaping @Sendable (StoreEvent) -> Void) -> UInt64, remove: @escaping @Sendable (UInt64) -> Void,
                           timeout: Duration, _ condition: @escaping @Sendable () async throws -> Bool) async throws -> Bool {
    let (commits, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    let token = observe { _ in continuation.yield() }
    defer {
        remove(token)
        continuation.finish()
    }
    return try await waitFor(commits, continuation: continuation, timeout: timeout, condition)
}

private func waitFor(_ commits: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation, timeout: Duration,
                     _ condition: @escaping @Sendable () async throws -> Bool) async throws -> Bool {
    try await withThrowingTaskGroup(of: Bool.self) { group in
        group.addTask {
            if try await condition() { return true }
            for await _ in commits {
                if try await condition() { return true }
            }
            return false
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return false
        }
        let result = try await group.next() ?? false
        group.cancelAll()
        continuation.finish()
        return result
    }
}
