import SyncCore
import SyncStore

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

extension ServerStorageLimits {
    /// Why a change cannot be accepted at `now` (the server's clock), or `nil`. Every store checks
    /// the same way.
    package func problem(with change: Change, now: UInt64) -> FrameError? {
        if let problem = Identifiers.problem(withCollection: change.collection) ?? Identifiers.problem(withRecordID: change.recordID) {
            return FrameError(.invalidMessage, problem)
        }
        switch DocumentRules.encode(change.fields, maxDepth: maxDocumentDepth) {
        case .failure(let problem): return FrameError(.invalidMessage, problem.message)
        case .success(let body) where body.count > maxDocumentBytes:
            return FrameError(.tooLarge, "document of \(body.count) bytes exceeds the limit of \(maxDocumentBytes)")
        default: break
        }
        if change.hlc.wallMillis > now + maxFutureMillis {
            return FrameError(.invalidMessage, "change \(change.id) is stamped \((change.hlc.wallMillis - now) / 1000) s in the future; fix the device's clock")
        }
        return nil
    }

    /// Splits submitted changes into those to commit and the refusals (``problem(with:now:)``).
    package func screen(_ changes: [Change], now: UInt64) -> (accepted: [Change], refused: [ChangeID: CommitOutcome]) {
        var refused: [ChangeID: CommitOutcome] = [:]
        var accepted: [Change] = []
        for change in changes {
            if let problem = problem(with: change, now: now) {
                refused[change.id] = .rejected(problem)
            } else {
                accepted.append(change)
            }
        }
        return (accepted, refused)
    }

    /// Throws when a write of the original protocol cannot be accepted.
    package func check(_ write: LegacyWrite) throws {
        if let problem = Identifiers.problem(withCollection: write.collection) ?? Identifiers.problem(withRecordID: write.recordID) {
            throw StoreError(.invalidIdentifier, problem)
        }
        if case .failure(let problem) = DocumentRules.encode(write.fields, maxDepth: maxDocumentDepth) {
            throw StoreError(.invalidDocument, problem.message)
        }
    }
}
