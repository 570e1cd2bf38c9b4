import SyncCore

/// The writer's own state, carried from one transaction to the next.
///
/// A value type, so a job that fails is undone by restoring the copy taken before it.
package struct WriterState: Sendable {
    /// The node's hybrid logical clock.
    package var clock: HybridLogicalClock
    /// The next sequence number for a change made here.
    package var nextSeq: UInt64
    /// Highest contiguous sequence held per origin.
    package var vector: VersionVector
    /// Origins that may hold changes above their contiguous mark plus one: only for these can a
    /// change that arrives in order move the mark further than itself (`advanceVector`).
    package var originsAhead: Set<NodeID>
    /// Remote readings that were further ahead than the drift bound.
    package var clampedObservations: Int = 0
    /// The store's signing key (the server signs the changes it stamps for original-protocol clients).
    package let signer: ChangeSigner
}

/// What a write job sees: the writer's connection and state, inside the batch's transaction.
package struct WriteContext {
    package let connection: SQLiteConnection
    package let nodeID: NodeID
    package let wallClock: any WallClock
    package var state: WriterState
    /// Collections written by this job, published after commit.
    package var touched: Set<String> = []
    /// Changes written by this job, published after commit.
    package var committed: [CommittedChange] = []
    /// Who submitted this job's changes (see ``CommittedChange/submitter``).
    package var submitter: UInt64 = 0
    /// Origins whose row in `origins` this transaction has moved, with the highest clock reading of
    /// theirs it wrote; each row is written once, just before the commit (``writeOrigins()``), with
    /// the mark `state.vector` holds by then.
    package var movedOrigins: [NodeID: HLCTimestamp] = [:]

    /// Notes a change this job wrote, for the observers that hear about the commit.
    package mutating func record(_ change: Change, serverSeq: UInt64?, isLocal: Bool, visibleChange: Bool,
                                 canonicalFields: [UInt8]? = nil) {
        touched.insert(change.collection)
        committed.append(CommittedChange(change: change, serverSeq: serverSeq, isLocal: isLocal, visibleChange: visibleChange,
                                         submitter: submitter, canonicalFields: canonicalFields))
    }

    /// A new HLC reading for a local write.
    package mutating func nextTimestamp() -> HLCTimestamp {
        state.clock.now(physicalMillis: wallClock.nowMillis())
    }

    /// Takes the next local sequence number.
    package mutating func takeSequence() -> UInt64 {
        defer { state.nextSeq += 1 }
        return state.nextSeq
    }
}

/// A queued write: runs inside the writer's transaction, completes after the commit.
package protocol WriteJob: AnyObject, Sendable {
    func execute(_ context: inout WriteContext) throws
    func succeed()
    func fail(_ error: any Error)
}

/// A write job that returns a value to its awaiting caller once the transaction has committed.
///
/// `@unchecked Sendable`: `result` is written and read only by the writer thread, which also
/// resumes the continuation; the caller only awaits.
package final class ContinuationWriteJob<T: Sendable>: WriteJob, @unchecked Sendable {
    private let body: (inout WriteContext) throws -> T
    private let continuation: CheckedContinuation<T, any Error>
    private var result: T?

    package init(body: @escaping (inout WriteContext) throws -> T, continuation: CheckedContinuation<T, any Error>) {
        self.body = body
        self.continuation = continuation
    }

    package func execute(_ context: inout WriteContext) throws {
        result = try body(&context)
    }

    package func succeed() {
        continuation.resume(returning: result!)
    }

    package func fail(_ error: any Error) {
        continuation.resume(throwing: error)
    }
}

/// A write job run by its caller on the caller's own thread; the caller reads ``result`` after commit.
///
/// `@unchecked Sendable`: created, run and read by the one thread of the caller.
package final class InlineWriteJob<T: Sendable>: WriteJob, @unchecked Sendable {
    private let body: (inout WriteContext) throws -> T
    private var value: T?
    private(set) var result: Result<T, any Error>?

    package init(body: @escaping (inout WriteContext) throws -> T) {
        self.body = body
    }

    package func execute(_ context: inout WriteContext) throws {
        value = try body(&context)
    }

    package func succeed() {
        result = .success(value!)
    }

    package func fail(_ error: any Error) {
        result = .failure(error)
    }
}
