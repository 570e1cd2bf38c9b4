#if PostgreSQL
import PostgresNIO
import SyncCore

/// Where a PostgreSQL database is, from a URL as `synclayer server --data` takes it:
/// - `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (TCP; `postgresql://` too);
/// - `postgres://USER@/DATABASE?host=/run/postgresql` (a unix socket: `host` is the socket's
///   directory, as with libpq, and the socket is `.s.PGSQL.PORT` in it).
package struct PostgresLocation: CustomStringConvertible {
    package let configuration: PostgresClient.Configuration
    /// The same, for one connection of its own (the commit listener's).
    package let connectionConfiguration: PostgresConnection.Configuration
    /// The URL without its password.
    package let description: String

    /// Whether `text` names a PostgreSQL database rather than a SQLite file.
    package static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    package init(_ url: String) throws {
        guard let schemeEnd = url.range(of: "://"), Self.isPostgres(url) else {
            throw PostgresStorageError("not a PostgreSQL URL: \(url) (postgres://USER@HOST:PORT/DATABASE)")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        var query: [String: String] = [:]
        if let mark = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let key = PercentEncoding.decode(String(parts[0])),
                      let value = PercentEncoding.decode(String(parts[1])) else { continue }
                query[key] = value
            }
            rest = rest[..<mark]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw PostgresStorageError("no database in \(url) (postgres://USER@HOST:PORT/DATABASE)")
        }
        let database = PercentEncoding.decode(String(rest[rest.index(after: slash)...])) ?? ""
        var authority = rest[..<slash]
        var username = "postgres"
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let user = authority[..<at]
            if let colon = user.firstIndex(of: ":") {
                username = PercentEncoding.decode(String(user[..<colon])) ?? ""
                password = PercentEncoding.decode(String(user[user.index(after: colon)...]))
            } else {
                username = PercentEncoding.decode(String(user)) ?? ""
            }
            authority = authority[authority.index(after: at)...]
        }
        var host = String(authority)
        var port = 5432
        if let colon = authority.lastIndex(of: ":"), let number = Int(authority[authority.index(after: colon)...]) {
            host = String(authority[..<colon])
            port = number
        }
        if let socketHost = query["host"] { host = socketHost }
        if let portText = query["port"], let number = Int(portText) { port = number }
        guard !database.isEmpty, !username.isEmpty else {
            throw PostgresStorageError("no database or user in \(url) (postgres://USER@HOST:PORT/DATABASE)")
        }
        var configuration: PostgresClient.Configuration
        var connectionConfiguration: PostgresConnection.Configuration
        if host.hasPrefix("/") {
            configuration = .init(unixSocketPath: "\(host)/.s.PGSQL.\(port)", username: username, password: password, database: database)
            connectionConfiguration = .init(unixSocketPath: "\(host)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        } else {
            guard !host.isEmpty else { throw PostgresStorageError("no host in \(url) (for a unix socket: ?host=/socket/directory)") }
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: .disable)
            connectionConfiguration = .init(host: host, port: port, username: username, password: password, database: database, tls: .disable)
        }
        connectionConfiguration.options.connectTimeout = .seconds(5)
        self.connectionConfiguration = connectionConfiguration
        // An instance cut off from the database must not hold a connection (and the head's lock) for
        // TCP's two hours: connect within 5 s, and let the pool check idle connections.
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = 8
        // Bounded waits: a commit queued behind the head's lock of an instance that hangs fails after
        // 10 s (no ack: the node sends again), and a transaction left open is ended by the database.
        configuration.options.additionalStartupParameters = [("lock_timeout", "10s"), ("idle_in_transaction_session_timeout", "30s")]
        self.configuration = configuration
        let shownUser = password == nil ? username : "\(username):***"
        description = host.hasPrefix("/") ? "postgres://\(shownUser)@/\(database)?host=\(host)" : "postgres://\(shownUser)@\(host):\(port)/\(database)"
    }
}
#endif
