/// An error from ``AvahiDiscovery``: a code to match on and a message a person can act on.
package struct DiscoveryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong. New codes may be added; match the ones you handle.
    package struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case daemonNotRunning, pollFailed, invalidAdvertisement, publishFailed, alreadyStarted, stopped
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The Avahi daemon (or the system D-Bus it is reached through) is not reachable.
        /// The node can run on without mDNS: static peers still work.
        package static let daemonNotRunning = Code(.daemonNotRunning)
        /// Avahi's event loop thread could not be created or started.
        package static let pollFailed = Code(.pollFailed)
        /// The advertisement breaks a DNS-SD limit or lacks the `node` key.
        package static let invalidAdvertisement = Code(.invalidAdvertisement)
        /// The daemon refused to publish or update our service.
        package static let publishFailed = Code(.publishFailed)
        /// `start()` was called on a discovery that is already running.
        package static let alreadyStarted = Code(.alreadyStarted)
        /// The discovery was stopped; create a new one.
        package static let stopped = Code(.stopped)

        /// The code's name, such as `daemonNotRunning`.
        package var description: String { value.rawValue }
    }

    /// What went wrong.
    package var code: Code
    /// A message a person can act on.
    package var message: String
    /// Avahi's error number (`AVAHI_ERR_*`, negative), when Avahi reported one.
    package var avahiErrorNumber: Int32?

    /// Creates an error.
    package init(code: Code, message: String, avahiErrorNumber: Int32? = nil) {
        self.code = code
        self.message = message
        self.avahiErrorNumber = avahiErrorNumber
    }

    /// `code: message`.
    package var description: String { "\(code): \(message)" }
}
