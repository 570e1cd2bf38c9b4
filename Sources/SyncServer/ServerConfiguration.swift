import SyncCore

/// How a server runs: where it listens, where it stores, who may connect, and its limits.
public struct ServerConfiguration: Sendable {
    /// Address to bind (default loopback).
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks a free one (read it from ``SyncServer/port``).
    public var port: Int = 8080
    /// The SQLite database file.
    public var databasePath: String
    /// What a committed change survives.
    public var durability: Durability = .processCrash
    /// Who may connect, and what each token may do.
    public var authority: TokenAuthority = .open
    /// Per-connection limits.
    public var limits = ServerLimits()
    /// TLS from a certificate and key; `nil` (the default) serves plain HTTP and WebSocket, for
    /// loopback or behind a TLS-terminating proxy.
    public var tls: ServerTLS?
    /// The token that opens the server console (`GET /admin/`, Docs/Console.md), which lists every
    /// connected node and its address; separate from client tokens. `nil` (the default): the console
    /// is off and answers 404.
    public var adminToken: String?

    /// Creates the configuration of a server that stores in the SQLite file at `databasePath` and
    /// listens on `host`:`port`.
    ///
    /// The other settings start at their defaults: durability `.processCrash`, the open
    /// ``TokenAuthority`` (every client may read and write every collection), the default
    /// ``ServerLimits``, and no TLS. The database file is created, if missing, when the server starts.
    public init(databasePath: String, host: String = "127.0.0.1", port: Int = 8080) {
        self.databasePath = databasePath
        self.host = host
        self.port = port
    }
}

/// Limits the server enforces per connection and per change.
public struct ServerLimits: Sendable, Hashable {
    /// Largest WebSocket message or REST body, in bytes.
    public var maxFrameBytes = 1 << 20
    /// Most changes in one `changes` frame or push.
    public var maxBatchCount = 1000
    /// What one change may hold.
    public var store = ServerStorageLimits()
    /// Sustained frames per second per connection (REST requests count too).
    public var framesPerSecond: Double = 2000
    /// Frames a connection may send in a burst above the sustained rate.
    public var frameBurst: Double = 4000
    /// Changes (or other frames) queued to a connection before it is dropped as too slow (it reconnects
    /// and catches up). This bounds what a client that never reads can make the server hold.
    public var outboundQueueLimit = 10_000
    /// Bytes queued to a connection and not yet written to its socket before it is dropped as too
    /// slow, whatever the count of frames: the bound on memory when frames are large. (Frames a
    /// writable channel holds below NIO's high watermark, 64 kB, may be left out: `Docs/Delivery.md`.)
    public var outboundQueueBytes = 64 << 20
    /// Invalid frames a connection may send before it is closed.
    public var maxInvalidFrames = 100
    /// How long a connection without a token may take to send its `auth` frame.
    public var authTimeout: Duration = .seconds(10)
    /// A WebSocket connection silent for this long is closed.
    public var idleTimeout: Duration = .seconds(90)
    /// An HTTP connection with no request in progress for this long is closed.
    public var httpIdleTimeout: Duration = .seconds(30)
    /// Which changes need their origin's signature (``SignaturePolicy``).
    public var signatures = SignaturePolicy.required

    /// Creates the default limits; set the properties you want to change afterwards.
    ///
    /// The defaults: messages up to 1 MiB holding at most 1000 changes; 2000 frames a second per
    /// connection, with bursts of 4000; a connection dropped past 10 000 queued frames or 100 invalid
    /// ones, after 10 s without authenticating, or after 90 s of WebSocket silence or 30 s of HTTP
    /// idleness; signatures ``SignaturePolicy/required``; and the default ``ServerStorageLimits``.
    public init() {}
}
