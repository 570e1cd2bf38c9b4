import SyncCore
/// A snapshot of a node's sync figures, like the original SDK's `SyncMetrics`.
public struct SyncMetrics: Sendable, Hashable {
    /// Sync rounds started (polls, catch-ups).
    public var syncAttempts = 0
    /// Sync rounds that finished.
    public var successfulSyncs = 0
    /// Sync rounds that failed.
    public var failedSyncs = 0
    /// Sum of the durations of finished rounds, in milliseconds.
    public var totalSyncMillis: UInt64 = 0
    /// Local writes recorded.
    public var operationsQueued = 0
    /// Changes acknowledged by the server.
    public var operationsSynced = 0
    /// Changes the server refused.
    public var operationsFailed = 0
    /// Conflicts between remote and pending local changes.
    public var conflictsDetected = 0
    /// Conflicts resolved.
    public var conflictsResolved = 0
    /// Remote changes applied.
    public var changesReceived = 0
    /// Remote changes that were already here.
    public var duplicatesDropped = 0
    /// Inbound frames that failed to decode or validate.
    public var framesRejected = 0
    /// Changes sent to LAN peers (each copy counted).
    public var changesRelayed = 0
    /// New changes received from LAN peers and applied.
    public var changesFromPeers = 0
    /// Changes from LAN peers dropped because their origin's signature was missing or did not hold
    /// (altered or forged on the way).
    public var changesRefused = 0
    /// LAN peers dropped for not reading: more than `MeshConfiguration.linkQueueLimit` changes
    /// were waiting to be written to them.
    public var slowPeersDropped = 0
    /// New changes the mesh's relay did not pass on at once because more than
    /// `MeshConfiguration.linkQueueLimit` were already waiting for it (a bulk import): peers get
    /// them by version vector once the relay has caught up.
    public var relaySkipped = 0
    /// Realtime connections to the server that completed their handshake (the first, then every reconnection).
    public var realtimeConnects = 0
    /// Error descriptions and how often each happened.
    public var errorCounts: [String: Int] = [:]
    /// When the last sync round finished (ms since the epoch).
    public var lastSyncTime: UInt64?

    /// Creates an empty snapshot: every count zero, no errors and no last sync time.
    ///
    /// A node's figures come from ``SyncNode/metrics()``. An empty snapshot reports a ``successRate`` of 1
    /// and an ``averageSyncMillis`` of 0.
    public init() {}

    /// Finished rounds over attempted rounds (1 when none).
    public var successRate: Double {
        syncAttempts == 0 ? 1 : Double(successfulSyncs) / Double(syncAttempts)
    }

    /// Mean duration of a finished round, in milliseconds.
    public var averageSyncMillis: Double {
        successfulSyncs == 0 ? 0 : Double(totalSyncMillis) / Double(successfulSyncs)
    }

    /// The most frequent errors, most frequent first.
    public func topErrors(_ count: Int = 5) -> [(error: String, count: Int)] {
        errorCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(count).map { ($0.key, $0.value) }
    }
}
