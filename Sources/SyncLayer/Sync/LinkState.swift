import SyncCore
/// The state of the realtime link to the server (the original SDK's five states).
public enum LinkState: String, Sendable, Hashable, CaseIterable {
    /// Not connected and not trying (not started, or `disconnect()` was called).
    case disconnected
    /// Opening a connection; not usable until the server's `hello` arrives.
    case connecting
    /// Handshake done: changes flow both ways.
    case connected
    /// The link was lost; waiting to try again (polling meanwhile).
    case reconnecting
    /// Reconnection attempts are exhausted: polling, and probing the link at the poll interval.
    case error
}
