import Logging
import SyncCore

/// Which instance of the server the node talks to, of ``SyncConfiguration/baseURL`` and
/// ``SyncConfiguration/otherServerURLs`` (instances of one cluster: one server id, so a cursor from
/// one is valid on every other). The realtime link and the poller use the same one and move on
/// together when it fails.
final class ServerChoice: Sendable {
    let urls: [String]
    let logger: Logger
    private let index = Locked(0)

    init(configuration: SyncConfiguration, logger: Logger) {
        urls = ([configuration.baseURL].compactMap { $0 } + configuration.otherServerURLs).map { url in
            url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        self.logger = logger
    }

    /// The base URL in use.
    var current: String? {
        guard !urls.isEmpty else { return nil }
        return urls[index.withLock { $0 }]
    }

    /// Whether there is another instance to move to.
    var canMove: Bool { urls.count > 1 }

    /// `url` failed (refused, reset, silent): if it is still the one in use, the next one is. Returns
    /// whether this call moved.
    @discardableResult
    func failed(_ url: String) -> Bool {
        guard urls.count > 1 else { return false }
        let moved: String? = index.withLock { index in
            guard urls[index] == url else { return nil }
            index = (index + 1) % urls.count
            return urls[index]
        }
        if let moved { logger.notice("server \(url) failed; moving to \(moved)") }
        return moved != nil
    }
}
