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

    /// Creates the limits on what one change may hold and how it may be stamped; the defaults are the
    /// ones a ``ServerLimits`` starts with.
    ///
    /// The server refuses, whole, a change whose fields encode to more than `maxDocumentBytes` (1 MiB)
    /// or nest deeper than `maxDocumentDepth` (24), or that is stamped more than `maxFutureMillis` (one
    /// day) ahead of its clock. `maxClockDriftMillis` (one minute) is how far ahead of the server's own
    /// clock a remote stamp may move its hybrid logical clock.
    public init(maxDocumentBytes: Int = 1 << 20, maxDocumentDepth: Int = 24, maxFutureMillis: UInt64 = 86_400_000,
                maxClockDriftMillis: UInt64 = 60_000) {
        self.maxDocumentBytes = maxDocumentBytes
        self.maxDocumentDepth = maxDocumentDepth
        self.maxFutureMillis = maxFutureMillis
        self.maxClockDriftMillis = maxClockDriftMillis
    }
}
