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
    /// The canonical encoding of a change's fields if it can be accepted at `now` (the server's
    /// clock), else why not. Every store checks the same way.
    package func check(_ change: Change, now: UInt64) -> Result<[UInt8], FrameError> {
        if let problem = Identifiers.problem(withCollection: change.collection) ?? Identifiers.problem(withRecordID: change.recordID) {
            return .failure(FrameError(.invalidMessage, problem))
        }
        let fields: [UInt8]
        switch encode(change.fields) {
        case .failure(.invalid(let problem)): return .failure(FrameError(.invalidMessage, problem))
        case .failure(.tooLarge(let problem)): return .failure(FrameError(.tooLarge, problem))
        case .success(let body): fields = body
        }
        if change.hlc.wallMillis > now + maxFutureMillis {
            return .failure(FrameError(.invalidMessage,
                                       "change \(change.id) is stamped \((change.hlc.wallMillis - now) / 1000) s in the future; fix the device's clock"))
        }
        return .success(fields)
    }

    /// Splits submitted changes into those to commit, with their fields' canonical encoding (made
    /// by the check, and used by the stores instead of a second one), and the refusals
    /// (``check(_:now:)``).
    package func screen(_ changes: [Change], now: UInt64)
        -> (accepted: [Change], fields: [[UInt8]], refused: [ChangeID: CommitOutcome]) {
        var refused: [ChangeID: CommitOutcome] = [:]
        var accepted: [Change] = []
        var fields: [[UInt8]] = []
        for change in changes {
            switch check(change, now: now) {
            case .failure(let problem):
                refused[change.id] = .rejected(problem)
            case .success(let encoded):
                accepted.append(change)
                fields.append(encoded)
            }
        }
        return (accepted, fields, refused)
    }

    /// Throws when a write of the original protocol cannot be accepted; else returns the canonical
    /// encoding of its fields.
    @discardableResult
    package func check(_ write: LegacyWrite) throws -> [UInt8] {
        if let problem = Identifiers.problem(withCollection: write.collection) ?? Identifiers.problem(withRecordID: write.recordID) {
            throw StoreError(.invalidIdentifier, problem)
        }
        switch encode(write.fields) {
        case .failure(.invalid(let problem)), .failure(.tooLarge(let problem)): throw StoreError(.invalidDocument, problem)
        case .success(let fields): return fields
        }
    }

    /// Why a document's fields are refused.
    private enum DocumentRefusal: Error {
        case invalid(String)
        case tooLarge(String)
    }

    /// The canonical encoding of a document's fields, checked against the document rules and
    /// `maxDocumentBytes`: the one check of both protocols' writes.
    private func encode(_ fields: JSONObject) -> Result<[UInt8], DocumentRefusal> {
        switch DocumentRules.encode(fields, maxDepth: maxDocumentDepth) {
        case .failure(let problem): return .failure(.invalid(problem.message))
        case .success(let body) where body.count > maxDocumentBytes:
            return .failure(.tooLarge("document of \(body.count) bytes exceeds the limit of \(maxDocumentBytes)"))
        case .success(let body): return .success(body)
        }
    }
}
