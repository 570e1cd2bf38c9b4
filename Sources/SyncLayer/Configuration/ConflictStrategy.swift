import SyncCore
/// What happens when a remote change meets a local change that the server has not acknowledged yet.
///
/// Whatever the strategy, every node converges: strategies other than `lastWriteWins` act by
/// writing a new change that carries the chosen result, never by rewriting history. See
/// `Docs/SyncModel.md` for what each keeps.
public enum ConflictStrategy: String, Sendable, Hashable, CaseIterable {
    /// Per-field last writer wins by hybrid logical clock (the default); no extra change is written.
    case lastWriteWins
    /// The server's version of the conflicting fields wins over the pending local change.
    case serverWins
    /// The pending local change wins over the remote one.
    case clientWins
    /// A ``ConflictResolver`` decides.
    case custom
}

/// A pure function that merges a conflicting local and remote version of a document.
public struct ConflictResolver: Sendable {
    /// Both versions and their times.
    public struct Input: Sendable, Hashable {
        /// The local document (with the pending change).
        public let local: JSONObject
        /// The remote document (with the incoming change).
        public let remote: JSONObject
        /// When the local change was made (ms since the epoch, by HLC).
        public let localTime: UInt64
        /// When the remote change was made (ms since the epoch, by HLC).
        public let remoteTime: UInt64

        /// Creates a resolver's input from both versions of the document and the times of their changes
        /// (milliseconds since the epoch, by hybrid logical clock).
        ///
        /// The node builds the input when a conflict occurs; create one yourself to test a resolver.
        public init(local: JSONObject, remote: JSONObject, localTime: UInt64, remoteTime: UInt64) {
            self.local = local
            self.remote = remote
            self.localTime = localTime
            self.remoteTime = remoteTime
        }
    }

    /// The merge; must be pure (same input, same output) so every node resolving the same conflict agrees.
    public let resolve: @Sendable (Input) -> JSONObject

    /// Creates a resolver from a merge function that returns the fields of the merged document.
    ///
    /// `resolve` must be pure: the same input gives the same output, with no clock, randomness or other
    /// state, because every node that meets the conflict resolves it on its own and they must agree. The
    /// node calls it when ``SyncConfiguration/conflictStrategy`` is ``ConflictStrategy/custom`` and this
    /// resolver is ``SyncConfiguration/customConflictResolver`` (``SyncConfiguration/validate()`` refuses
    /// either without the other), and writes its result as a new change unless the document already
    /// holds it.
    public init(_ resolve: @escaping @Sendable (Input) -> JSONObject) {
        self.resolve = resolve
    }
}

extension ConflictResolver {
    /// Array fields become the union of both sides' elements (local order first); other fields from the newer side.
    public static let mergeArrays = ConflictResolver { input in
        var result = newerFirst(input)
        for (key, value) in input.local {
            if case .array(let local) = value, case .array(let remote)? = input.remote[key] {
                var merged = local
                for element in remote where !merged.contains(element) { merged.append(element) }
                result[key] = .array(merged)
            }
        }
        return result
    }

    /// Numeric fields present on both sides are added; other fields from the newer side.
    public static let sumNumbers = ConflictResolver { input in
        var result = newerFirst(input)
        for (key, value) in input.local {
            switch (value, input.remote[key]) {
            case (.int(let a), .int(let b)?): result[key] = .int(a &+ b)
            case (let a, let b?) where a.doubleValue != nil && b.doubleValue != nil: result[key] = .double(a.doubleValue! + b.doubleValue!)
            default: break
            }
        }
        return result
    }

    /// Every field of both sides; where both have a field, the newer side's value.
    public static let mergeFields = ConflictResolver { input in newerFirst(input) }

    /// Numeric fields present on both sides take the larger value; other fields from the newer side.
    public static let maxValue = ConflictResolver { input in
        var result = newerFirst(input)
        for (key, value) in input.local {
            if let a = value.doubleValue, let b = input.remote[key]?.doubleValue { result[key] = a >= b ? value : input.remote[key]! }
        }
        return result
    }

    /// Nested objects are merged key by key, recursively; elsewhere the newer side wins.
    public static let deepMerge = ConflictResolver { input in
        let localNewer = input.localTime > input.remoteTime
        return deepMerged(older: localNewer ? input.remote : input.local, newer: localNewer ? input.local : input.remote)
    }

    private static func newerFirst(_ input: ConflictResolver.Input) -> JSONObject {
        let localNewer = input.localTime > input.remoteTime
        return (localNewer ? input.remote : input.local).merging(localNewer ? input.local : input.remote) { _, newer in newer }
    }

    private static func deepMerged(older: JSONObject, newer: JSONObject) -> JSONObject {
        var result = older
        for (key, value) in newer {
            if case .object(let new) = value, case .object(let old)? = older[key] {
                result[key] = .object(deepMerged(older: old, newer: new))
            } else {
                result[key] = value
            }
        }
        return result
    }
}
