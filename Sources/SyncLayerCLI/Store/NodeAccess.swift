import SyncLayer
import SyncCore

/// What the data commands need from a node, whether its database is opened here (`--data`) or it
/// runs elsewhere and is reached through its control endpoint (`--node`).
protocol NodeAccess: Sendable {
    func save(_ collection: String, _ fields: JSONObject, id: String?) async throws -> String
    func update(_ collection: String, _ id: String, _ fields: JSONObject) async throws
    func get(_ collection: String, _ id: String) async throws -> Document?
    func delete(_ collection: String, _ ids: [String]) async throws
    func list(_ collection: String, limit: Int?, offset: Int?) async throws -> [Document]
    func watch(_ collection: String) -> AsyncThrowingStream<[Document], any Error>
    func status() async throws -> JSONObject
}

/// A node database opened by this process.
struct LocalAccess: NodeAccess {
    let node: SyncNode

    func save(_ collection: String, _ fields: JSONObject, id: String?) async throws -> String {
        try await node.collection(collection).save(fields, id: id)
    }

    func update(_ collection: String, _ id: String, _ fields: JSONObject) async throws {
        try await node.collection(collection).update(id, fields)
    }

    func get(_ collection: String, _ id: String) async throws -> Document? {
        try await node.collection(collection).get(id)
    }

    func delete(_ collection: String, _ ids: [String]) async throws {
        try await node.collection(collection).deleteAll(ids)
    }

    func list(_ collection: String, limit: Int?, offset: Int?) async throws -> [Document] {
        var query = node.collection(collection).query
        if let limit { query = query.limit(limit) }
        if let offset { query = query.offset(offset) }
        return try await query.get()
    }

    func watch(_ collection: String) -> AsyncThrowingStream<[Document], any Error> {
        let watch = node.collection(collection).watch()
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await documents in watch { continuation.yield(documents) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    func status() async throws -> JSONObject {
        try await NodeStatus.report(node)
    }
}
