import CoreMetrics
import SyncCore
/// How a node stores and syncs: the original SDK's `SyncConfig` fields, plus the node's own.
///
/// ``validate()`` checks every field and throws a ``ConfigurationError`` naming the first one at
/// fault; ``SyncNode/open(_:logger:)`` calls it, so a wrong configuration never starts a node.
public struct SyncConfiguration: Sendable {
    // MARK: The original SDK's fields

    /// The server's base URL (`http://` or `https://`), or `nil` for a node that never talks to a server.
    public var baseURL: String?
    /// Bearer token sent to the server, if it needs one.
    public var authToken: String?
    /// The collections that sync. Empty means every collection is local only.
    public var collections: [String]
    /// Whether the node polls the server on its own (push the outbox, pull changes).
    public var enableAutoSync: Bool = true
    /// How often to poll while the realtime link is down.
    public var syncInterval: Duration = .seconds(300)
    /// What wins when a remote change meets a pending local one.
    public var conflictStrategy: ConflictStrategy = .lastWriteWins
    /// The resolver for ``ConflictStrategy/custom``.
    public var customConflictResolver: ConflictResolver?
    /// Whether to keep a realtime WebSocket link to the server.
    public var enableRealtimeSync: Bool = false
    /// The server's WebSocket URL (`ws://` or `wss://`); derived from ``baseURL`` (`/ws`) when `nil`.
    public var websocketURL: String?
    /// Delay before the first reconnection attempt; later attempts back off from it, with jitter.
    public var websocketReconnectDelay: Duration = .seconds(5)
    /// Reconnection attempts before falling back to polling (which keeps probing the link).
    public var maxWebsocketReconnectAttempts: Int = 5

    // MARK: The node's own

    /// The node's SQLite database file.
    public var databasePath: String
    /// What a returned write survives.
    public var durability: Durability = .processCrash
    /// How far ahead of this machine's clock a remote clock may move the node's HLC.
    public var maxClockDrift: Duration = .seconds(60)
    /// Interval of realtime keep-alive pings; a link silent for two intervals is declared dead.
    public var pingInterval: Duration = .seconds(30)
    /// The LAN mesh: `nil` (the default) keeps the node off the mesh.
    public var mesh: MeshConfiguration?
    /// Other instances of the same server (several instances on one database: one server id), as
    /// base URLs like ``baseURL``. When the instance in use refuses, resets or stops answering, the
    /// realtime link and polling move to the next one, at once, and keep the node's cursor.
    public var otherServerURLs: [String] = []
    /// A PEM file of the certificates that may sign the server's TLS certificate (a team's own
    /// authority, or the server's self-signed certificate), used instead of the system's roots;
    /// `nil` trusts the system's roots. Only used with `https://` and `wss://` URLs.
    public var trustedCertificatesPath: String?
    /// Where the node records its histograms through swift-metrics: how long each store commit and
    /// each realtime connection took (`synclayer_store_commit_seconds`, `synclayer_node_connect_seconds`).
    /// `nil` uses `MetricsSystem.factory`, the process's choice (which records nothing unless the app
    /// bootstrapped a backend). `synclayer node` gives each node a Prometheus registry of its own.
    public var metricsFactory: (any MetricsFactory)?

    /// A configuration for a node storing its data at `databasePath`.
    public init(databasePath: String, baseURL: String? = nil, authToken: String? = nil, collections: [String] = []) {
        self.databasePath = databasePath
        self.baseURL = baseURL
        self.authToken = authToken
        self.collections = collections
    }
}
