/// Which protocol the backend speaks, as far as the node knows. The sync engine owns the one
/// value; the realtime session and the poller report what they saw (``DialectEvidence``).
enum BackendDialect: Sendable, Equatable {
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
        case .helloRefused, .helloUnanswered, .pullNotOurs: return .original
        }
    }
}

/// What a transport saw that tells the backend's dialect.
enum DialectEvidence: String, Sendable {
    /// The server answered our `hello` with its own.
    case helloAnswered
    /// The backend refused `hello` as an invalid message.
    case helloRefused
    /// The backend never answered `hello` within the handshake deadline.
    case helloUnanswered
    /// `POST /sync/_pull` answered with a server id.
    case pullAnswered
    /// `POST /sync/_pull` answered, but not as our server does.
    case pullNotOurs
}
