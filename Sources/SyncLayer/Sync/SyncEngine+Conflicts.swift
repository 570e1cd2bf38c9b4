import SyncCore
import SyncStore
extension SyncEngine {
    /// Announces conflicts and carries out the configured strategy. Strategies other than
    /// last-writer-wins act by writing a new local change with the chosen result, so every node and
    /// the server still converge (see `Docs/SyncModel.md`).
    func resolve(_ conflicts: [Conflict]) async {
        let strategy = configuration.conflictStrategy
        for conflict in conflicts {
            let remote = conflict.remote
            metrics.update { $0.conflictsDetected += 1 }
            emit(.conflictDetected, collection: remote.collection, recordID: remote.recordID,
                 metadata: ["strategy": .string(strategy.rawValue), "remoteChangeId": .string(remote.id.description)])
            do {
                if let write = try resolution(for: conflict, strategy: strategy) {
                    _ = try await perform(write, collection: remote.collection, id: remote.recordID)
                }
                metrics.update { $0.conflictsResolved += 1 }
                emit(.conflictResolved, collection: remote.collection, recordID: remote.recordID,
                     metadata: ["strategy": .string(strategy.rawValue)])
            } catch {
                metrics.recordError("\(error)")
                emit(.error, collection: remote.collection, recordID: remote.recordID, error: "conflict resolution failed: \(error)")
            }
        }
    }

    /// A write that brings a document to the chosen result.
    enum Resolution: Equatable {
        case put(JSONObject)
        case update(JSONObject)
        case delete
    }

    /// What to write, or `nil` when the merged document already is the chosen one.
    func resolution(for conflict: Conflict, strategy: ConflictStrategy) throws -> Resolution? {
        let remote = conflict.remote
        switch strategy {
        case .lastWriteWins:
            return nil
        case .serverWins:
            let wanted: JSONObject? = switch remote.kind {
            case .delete: nil
            case .insert: remote.fields
            case .update: (conflict.before ?? [:]).merging(remote.fields) { _, server in server }
            }
            return write(toReach: wanted, from: conflict.after, fields: remote.kind == .update ? Set(remote.fields.keys) : nil)
        case .clientWins:
            return write(toReach: conflict.before, from: conflict.after, fields: conflict.overlappingFields)
        case .custom:
            guard let resolver = configuration.customConflictResolver else { return nil }
            let remoteView: JSONObject = switch remote.kind {
            case .delete: [:]
            case .insert: remote.fields
            case .update: (conflict.before ?? [:]).merging(remote.fields) { _, server in server }
            }
            let merged = resolver.resolve(ConflictResolver.Input(
                local: conflict.before ?? [:], remote: remoteView,
                localTime: conflict.pending.last?.hlc.wallMillis ?? 0, remoteTime: remote.hlc.wallMillis))
            return merged == conflict.after ? nil : .put(merged)
        }
    }

    /// The smallest write that turns `current` into `wanted`: only `fields` when given.
    private func write(toReach wanted: JSONObject?, from current: JSONObject?, fields: Set<String>?) -> Resolution? {
        guard wanted != current else { return nil }
        guard let wanted else { return .delete }
        if let fields, current != nil {
            var update: JSONObject = [:]
            for field in fields { update[field] = wanted[field] ?? .null }
            return update.allSatisfy({ current?[$0.key] == $0.value }) ? nil : .update(update)
        }
        return .put(wanted)
    }
}
