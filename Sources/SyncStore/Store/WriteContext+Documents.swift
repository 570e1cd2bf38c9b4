import SyncCore

extension WriteContext {
    /// The merge state of a document, or `nil` when nothing was ever written to it.
    package func loadState(collection: String, id: String) throws -> DocumentState? {
        let statement = try connection.statement(static: "SELECT body, clocks FROM documents WHERE collection = ?1 AND id = ?2")
        try statement.bind(collection, at: 1)
        try statement.bind(id, at: 2)
        guard try statement.step() else { return nil }
        let body = try statement.withText(0) { try JSONParser().parseObject($0) }
        return try DocumentState(body: body, clocksJSON: statement.text(1))
    }

    /// Writes a document's merge state.
    package func storeState(_ state: DocumentState, collection: String, id: String) throws {
        let statement = try connection.statement(
            "INSERT OR REPLACE INTO documents(collection, id, body, clocks, visible) VALUES (?1, ?2, ?3, ?4, ?5)")
        try statement.bind(collection, at: 1)
        try statement.bind(id, at: 2)
        var body: [UInt8] = []
        JSONValue.appendCanonical(object: state.body, to: &body)
        try statement.bind(utf8: body, at: 3)
        try statement.bind(utf8: state.clocksBytes, at: 4)
        try statement.bind(state.exists ? 1 : 0, at: 5)
        while try statement.step() {}
    }

    /// Makes and applies a local change: stamps it after everything in the document, merges it, and
    /// records it in the change log (the outbox), all in the current transaction.
    ///
    /// - Parameters:
    ///   - encodedBody: the canonical encoding of `fields`, when the caller already made it.
    ///   - loaded: the document's state, when the caller already loaded it.
    package mutating func recordLocal(kind: Change.Kind, collection: String, id: String, fields: JSONObject,
                              encodedBody: [UInt8]? = nil, loaded: DocumentState? = nil) throws -> Change {
        var hlc = nextTimestamp()
        let seq = takeSequence()
        if kind == .insert, loaded == nil {
            // Fast path: a document that never existed needs no merge.
            let stamp = Stamp(hlc: hlc, origin: nodeID, seq: seq)
            let insert = try connection.statement(
                "INSERT INTO documents(collection, id, body, clocks, visible) VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT DO NOTHING")
            try insert.bind(collection, at: 1)
            try insert.bind(id, at: 2)
            let body = encodedBody ?? JSONValue.object(fields).canonicalBytes
            try insert.bind(utf8: body, at: 3)
            try insert.bind("{\"l\":\"\(stamp)\"}", at: 4)
            while try insert.step() {}
            if connection.changes == 1 {
                let change = Change(id: ChangeID(origin: nodeID, seq: seq), hlc: hlc, collection: collection, recordID: id, kind: kind, fields: fields)
                try insertChange(change, acked: false, serverSeq: nil, encodedFields: body)
                state.vector[nodeID] = seq
                record(change, serverSeq: nil, isLocal: true, visibleChange: true)
                return change
            }
        }
        var document = try loaded ?? loadState(collection: collection, id: id) ?? DocumentState()
        if let latest = document.maxStamp, latest.hlc >= hlc { hlc = latest.hlc.successor }
        let change = Change(id: ChangeID(origin: nodeID, seq: seq), hlc: hlc, collection: collection, recordID: id, kind: kind, fields: fields)
        document.apply(change)
        try storeState(document, collection: collection, id: id)
        try insertChange(change, acked: false, serverSeq: nil, encodedFields: kind == .insert ? encodedBody : nil)
        state.vector[nodeID] = seq
        record(change, serverSeq: nil, isLocal: true, visibleChange: true)
        return change
    }
}
