import SyncCore
import SyncServer
import SyncTesting
import Testing

/// The server console (`/admin/`): off without an admin token, closed to anyone without it, and
/// showing each connected node, how far behind the head it is, and the instance's figures.
@Suite struct AdminConsoleTests {
    let codec = FrameCodec()

    @Test func withoutAnAdminTokenTheConsoleIsOff() async throws {
        try await withServer { server, _ in
            let page = try await http(.GET, "\(server.baseURL)/admin/")
            let status = try await http(.GET, "\(server.baseURL)/admin/status", token: "anything")
            #expect(page.status == 404 && status.status == 404)
        }
    }

    @Test func theConsoleShowsConnectedNodesToTheAdminOnly() async throws {
        var limits = ServerLimits()
        limits.signatures = .checkedWhenPresent
        try await withServer(limits: limits, adminToken: "admin-secret-1") { server, _ in
            #expect(try await http(.GET, "\(server.baseURL)/admin/").status == 200, "the page itself holds no data")
            #expect(try await http(.GET, "\(server.baseURL)/admin/status").status == 401)
            #expect(try await http(.GET, "\(server.baseURL)/admin/status", token: "admin-secret-2").status == 401)

            let node = try await RawWebSocket.connect(server.webSocketURL)
            var incoming = node.messages.makeAsyncIterator()
            try await node.send(codec.encodeString(.hello(Hello(nodeID: NodeID("node-a")!, vector: VersionVector(), cursor: 0,
                                                               collections: ["todos"]))))
            _ = await incoming.next(ofType: "hello")
            let changes = (1...2).map { seq in
                ChangeMessage(Change(id: ChangeID(origin: NodeID("node-a")!, seq: UInt64(seq)), hlc: HLCTimestamp(wallMillis: 1_767_225_600_000),
                                     collection: "todos", recordID: "r\(seq)", kind: .insert, fields: ["v": 1]))
            }
            try await node.send(codec.encodeString(.changes(ChangeBatch(changes: changes))))
            _ = await incoming.next(ofType: "ack")

            let (status, json) = try await http(.GET, "\(server.baseURL)/admin/status", token: "admin-secret-1")
            #expect(status == 200)
            let connections = json?["connections"]?.arrayValue ?? []
            let entry = connections.first { $0["nodeId"]?.stringValue == "node-a" }
            #expect(entry != nil, "the node is listed by its id")
            #expect(entry?["collections"] == ["todos"])
            #expect(entry?["address"]?.stringValue?.hasPrefix("127.0.0.1:") == true)
            #expect(entry?["through"] == json?["head"] && json?["head"] == 2, "not behind: it was sent (acknowledged) everything")
            #expect(json?["clusterHead"] == 2)
            #expect(json?["subscribers"]?["todos"] == 1)
            #expect(json?["counters"]?["changesCommitted"] == 2)
            await node.close()
        }
    }
}
