import SyncCore
import SyncStore
import SyncTesting

/// Opens a store in a fresh temporary folder, runs `body`, then closes and removes it.
func withStore<T>(wallClock: any WallClock = ManualWallClock(), durability: Durability = .processCrash,
                  _ body: (LocalStore, TemporaryDirectory) async throws -> T) async throws -> T {
    try await withTemporaryDirectory(prefix: "store") { directory in
        let store = try await LocalStore.open(path: directory.file("node.sqlite"), durability: durability, wallClock: wallClock)
        do {
            let result = try await body(store, directory)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }
}

func remoteChange(_ origin: String, _ seq: UInt64, at millis: UInt64, _ kind: Change.Kind = .insert,
                  record: String = "r", collection: String = "items", _ fields: JSONObject = ["v": 1]) -> Change {
    Change(id: ChangeID(origin: NodeID(origin)!, seq: seq), hlc: HLCTimestamp(wallMillis: millis), collection: collection,
           recordID: record, kind: kind, fields: fields)
}
