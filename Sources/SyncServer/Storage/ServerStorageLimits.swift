/// What the server accepts.
public struct ServerStorageLimits: Sendable, Hashable {
    /// Largest canonical encoding of one document's fields.
    public var maxDocumentBytes: Int
    /// Deepest nesting inside a document.
    public var maxDocumentDepth: Int
    /// How far in the future (by the server's clock) a change may be stamped.
    public var maxFutureMillis: UInt64
    /// How far ahead a remote clock may move the server's HLC.
    public var maxClockDriftMillis: UInt64

    public init(maxDocumentBytes: Int = 1 << 20, maxDocumentDepth: Int = 24, maxFutureMillis: UInt64 = 86_400_000,
                maxClockDriftMillis: UInt64 = 60_000) {
        self.maxDocumentBytes = maxDocumentBytes
        self.maxDocumentDepth = maxDocumentDepth
        self.maxFutureMillis = maxFutureMillis
        self.maxClockDriftMillis = maxClockDriftMillis
    }
}
