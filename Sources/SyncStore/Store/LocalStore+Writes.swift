#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SyncCore

extension LocalStore {
    /// Writes a whole document (`save`): fields not given are removed. Returns the change it made,
    /// after the transaction committed.
    package func put(collection: String, id: String, fields: JSONObject) async throws -> Change {
        try validate(collection: collection, id: id)
        let body = try encodeDocument(fields)
        return try await writer.write { context in
            try context.recordLocal(kind: .insert, collection: collection, id: id, fields: fields, encodedBody: body)
        }
    }

    /// Sets the given fields of an existing document and leaves the others alone (`update`).
    ///
    /// - Throws: ``StoreError`` with code `notFound` when the document does not exist.
    package func update(collection: String, id: String, fields: JSONObject) async throws -> Change {
        try validate(collection: collection, id: id)
        _ = try encodeDocument(fields)
        return try await writer.write { context in
            guard let state = try context.loadState(collection: collection, id: id), state.exists else {
                throw StoreError(.notFound, "no document \"\(id)\" in \"\(collection)\" to update")
            }
            return try context.recordLocal(kind: .update, collection: collection, id: id, fields: fields, loaded: state)
        }
    }

    /// Deletes a document, leaving a tombstone. Returns `nil` (and writes nothing) when it does not exist.
    package func delete(collection: String, id: String) async throws -> Change? {
        try validate(collection: collection, id: id)
        return try await writer.write { context in
            guard let state = try context.loadState(collection: collection, id: id), state.exists else { return nil }
            return try context.recordLocal(kind: .delete, collection: collection, id: id, fields: [:], loaded: state)
        }
    }

    /// Writes many whole documents in one transaction (`saveAll`).
    package func putAll(collection: String, documents: [(id: String, fields: JSONObject)]) async throws -> [Change] {
        try validate(collection: collection, id: nil)
        let batch = try await encodeAll(documents)
        return try await writer.write { context in
            var changes: [Change] = []
            changes.reserveCapacity(batch.count)
            for (id, fields, body) in batch {
                changes.append(try context.recordLocal(kind: .insert, collection: collection, id: id, fields: fields, encodedBody: body))
            }
            return changes
        }
    }

    /// Validates and encodes documents; large batches are split across the machine's cores.
    private func encodeAll(_ documents: [(id: String, fields: JSONObject)]) async throws -> [(String, JSONObject, [UInt8])] {
        let encodeChunk: @Sendable (ArraySlice<(id: String, fields: JSONObject)>) throws -> [(String, JSONObject, [UInt8])] = { chunk in
            try chunk.map { document in
                try self.validate(collection: "c", id: document.id)
                return (document.id, document.fields, try self.encodeDocument(document.fields))
            }
        }
        let parts = min(ProcessInfo.processInfo.activeProcessorCount, documents.count / 2_000)
        guard parts > 1 else { return try encodeChunk(documents[...]) }
        let size = (documents.count + parts - 1) / parts
        return try await withThrowingTaskGroup(of: (Int, [(String, JSONObject, [UInt8])]).self) { group in
            for part in 0..<parts {
                let chunk = documents[(part * size)..<min(documents.count, (part + 1) * size)]
                group.addTask { (part, try encodeChunk(chunk)) }
            }
            var results = [[(String, JSONObject, [UInt8])]](repeating: [], count: parts)
            for try await (part, encoded) in group { results[part] = encoded }
            return results.flatMap { $0 }
        }
    }

    /// Deletes the given documents (or, with `nil`, every document of the collection) in one
    /// transaction (`deleteAll`). Ids that do not exist are skipped.
    package func deleteAll(collection: String, ids: [String]?) async throws -> [Change] {
        try validate(collection: collection, id: nil)
        for id in ids ?? [] { try validate(collection: collection, id: id) }
        return try await writer.write { context in
            var targets = ids ?? []
            if ids == nil {
                let statement = try context.connection.statement("SELECT id FROM documents WHERE collection = ?1 AND visible = 1 ORDER BY id")
                try statement.bind(collection, at: 1)
                while try statement.step() { targets.append(statement.text(0)) }
            }
            var changes: [Change] = []
            for id in targets {
                guard let state = try context.loadState(collection: collection, id: id), state.exists else { continue }
                changes.append(try context.recordLocal(kind: .delete, collection: collection, id: id, fields: [:], loaded: state))
            }
            return changes
        }
    }

    func validate(collection: String, id: String?) throws(StoreError) {
        if let problem = Identifiers.problem(withCollection: collection) { throw StoreError(.invalidIdentifier, problem) }
        if let id, let problem = Identifiers.problem(withRecordID: id) { throw StoreError(.invalidIdentifier, problem) }
    }

    /// Checks a document against the limits and returns its canonical encoding.
    func encodeDocument(_ fields: JSONObject) throws(StoreError) -> [UInt8] {
        let body: [UInt8]
        switch DocumentRules.encode(fields, maxDepth: limits.maxDocumentDepth) {
        case .success(let bytes): body = bytes
        case .failure(let problem): throw StoreError(.invalidDocument, problem.message)
        }
        guard body.count <= limits.maxDocumentBytes else {
            throw StoreError(.invalidDocument, "document of \(body.count) bytes exceeds the limit of \(limits.maxDocumentBytes)")
        }
        return body
    }
}
