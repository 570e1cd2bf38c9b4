#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import SyncCore

extension SyncConfiguration {
    /// Checks every field; throws a ``ConfigurationError`` naming the first one at fault.
    public func validate() throws(ConfigurationError) {
        if databasePath.isEmpty {
            throw ConfigurationError(field: "databasePath", message: "must name the node's database file")
        }
        if let baseURL {
            try Self.checkURL(baseURL, field: "baseURL", schemes: ["http", "https"])
        }
        for (index, url) in otherServerURLs.enumerated() {
            try Self.checkURL(url, field: "otherServerURLs[\(index)]", schemes: ["http", "https"])
        }
        if !otherServerURLs.isEmpty, baseURL == nil {
            throw ConfigurationError(field: "otherServerURLs", message: "other instances are set but baseURL, the first one, is not")
        }
        if let websocketURL {
            try Self.checkURL(websocketURL, field: "websocketURL", schemes: ["ws", "wss"])
            if !otherServerURLs.isEmpty {
                throw ConfigurationError(field: "websocketURL", message: "with otherServerURLs each instance's WebSocket URL is its base URL's /ws: leave websocketURL unset")
            }
        }
        if let authToken, authToken.isEmpty || authToken.contains(where: { $0.isWhitespace || $0.isNewline }) {
            throw ConfigurationError(field: "authToken", message: "must be non-empty and hold no white space")
        }
        var seen = Set<String>()
        for (index, name) in collections.enumerated() {
            if let problem = Identifiers.problem(withCollection: name) {
                throw ConfigurationError(field: "collections[\(index)]", message: problem)
            }
            if !seen.insert(name).inserted {
                throw ConfigurationError(field: "collections[\(index)]", message: "\"\(name)\" is listed twice")
            }
        }
        if syncInterval <= .zero {
            throw ConfigurationError(field: "syncInterval", message: "must be positive (got \(syncInterval))")
        }
        if websocketReconnectDelay < .zero {
            throw ConfigurationError(field: "websocketReconnectDelay", message: "must not be negative (got \(websocketReconnectDelay))")
        }
        if maxWebsocketReconnectAttempts < 0 {
            throw ConfigurationError(field: "maxWebsocketReconnectAttempts", message: "must not be negative (got \(maxWebsocketReconnectAttempts))")
        }
        try mesh?.validate()
        if pingInterval <= .zero {
            throw ConfigurationError(field: "pingInterval", message: "must be positive (got \(pingInterval))")
        }
        if maxClockDrift < .zero {
            throw ConfigurationError(field: "maxClockDrift", message: "must not be negative (got \(maxClockDrift))")
        }
        if enableRealtimeSync && websocketURL == nil && baseURL == nil {
            throw ConfigurationError(field: "websocketURL", message: "realtime sync is enabled but neither websocketURL nor baseURL is set")
        }
        if enableRealtimeSync, let url = effectiveWebSocketURL, let components = URLComponents(string: url),
           components.scheme?.lowercased() == "wss", let host = components.host, Self.isIPAddress(host) {
            // swift-websocket sends the URL's host as the TLS server name (SNI), which may not be an
            // IP address: every connection would fail. Polling (HTTPS) has no such limit.
            throw ConfigurationError(field: websocketURL == nil ? "baseURL" : "websocketURL",
                                     message: "realtime over TLS needs a host name the server's certificate holds, not the IP address \(host) (e.g. an /etc/hosts entry)")
        }
        if (enableRealtimeSync || enableAutoSync) && baseURL != nil && collections.isEmpty {
            throw ConfigurationError(field: "collections", message: "a node that syncs with a server must list the collections to sync")
        }
        switch (conflictStrategy, customConflictResolver) {
        case (.custom, nil):
            throw ConfigurationError(field: "customConflictResolver", message: "conflictStrategy is .custom but no resolver is set")
        case (.lastWriteWins, _?), (.serverWins, _?), (.clientWins, _?):
            throw ConfigurationError(field: "customConflictResolver", message: "a resolver is set but conflictStrategy is .\(conflictStrategy), not .custom")
        default:
            break
        }
    }

    /// The WebSocket URL the realtime link uses: ``websocketURL``, or ``baseURL`` with `ws`/`wss` and `/ws`.
    public var effectiveWebSocketURL: String? {
        if let websocketURL { return websocketURL }
        return baseURL.flatMap(Self.webSocketURL(forBase:))
    }

    /// A server's WebSocket URL from its base URL: `ws`/`wss` and `/ws`.
    static func webSocketURL(forBase baseURL: String) -> String? {
        guard var components = URLComponents(string: baseURL) else { return nil }
        components.scheme = components.scheme == "https" ? "wss" : "ws"
        components.path = (components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path) + "/ws"
        return components.string
    }

    /// Whether `host` (as `URLComponents` gives it, an IPv6 address possibly in brackets) is an IP
    /// address rather than a name, by the parser NIO itself uses.
    static func isIPAddress(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return (try? SocketAddress(ipAddress: bare, port: 0)) != nil
    }

    static func checkURL(_ text: String, field: String, schemes: Set<String>) throws(ConfigurationError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty else {
            throw ConfigurationError(field: field, message: "\"\(text)\" is not an absolute URL")
        }
        guard schemes.contains(scheme) else {
            throw ConfigurationError(field: field, message: "scheme must be one of \(schemes.sorted().joined(separator: ", ")), not \(scheme)")
        }
    }
}
