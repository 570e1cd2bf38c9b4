/// Which protocol the backend speaks, as far as the node knows. The sync engine owns the one
/// value; the realtime session and the poller report what they saw (``DialectEvidence``).
enum BackendDialect: String, Sendable, Equatable {
    /// No handshake or pull has told yet.
    case unknown
    /// A SyncLayer server: `hello`, change ids, acknowledgements, version vectors.
    case synclayer
    /// A backend of the original SDK's documented protocol only: writes merge by timestamp.
    case original

    /// What the node believes after seeing `evidence`.
    static func after(_ evidence: DialectEvidence) -> BackendDialect {
        switch evidence {
        case .helloAnswered, .pullAnswered: return .synclayer
        case .helloRefused, .helloUnanswered, .answeredOtherwise, .pullNotOurs: return .original
        }
    }
}

/// What a transport saw that tells the backend's dialect.
enum DialectEvidence: String, Sendable {
    /// The server answered our `hello` with its own.
    case helloAnswered
    /// The backend refused `hello` as an invalid message.
    case helloRefused
    /// The backend sent nothing at all within the probe's wait (``DialectProbe``).
    case helloUnanswered
    /// The backend's first frame was not `hello` (a `pong`, a `subscribed`, a broadcast).
    case answeredOtherwise
    /// `POST /sync/_pull` answered with a server id.
    case pullAnswered
    /// `POST /sync/_pull` answered, but not as our server does.
    case pullNotOurs
}

/// What the node learned of a backend of the original protocol, beyond its dialect.
struct OriginalBackendFacts: Sendable, Equatable {
    /// Whether its REST routes (`/sync/{collection}`) answer: `nil` until a poll tried them. Without
    /// them the node syncs over the WebSocket alone; with them, REST carries what the WebSocket could
    /// not confirm (``OriginalDelivery``), and the pulls.
    var rest: Bool?
    /// Whether it asked for an `auth` frame before anything else.
    var wantsAuthFirst = false
    /// Whether `POST /sync/_pull` was answered, but not as our server answers it. Until then the
    /// poller asks it first even when the WebSocket took the backend for one of the original
    /// protocol: a server of ours that was slow to answer `hello` says so there, before any write of
    /// the original protocol goes to it over REST.
    var pullRefused = false
}
