import SyncLayer
import Testing
import SyncCore

@Suite struct ConfigurationTests {
    func field(_ change: (inout SyncConfiguration) -> Void) -> String? {
        var configuration = SyncConfiguration(databasePath: "/tmp/x.sqlite", baseURL: "http://127.0.0.1:8080", collections: ["todos"])
        change(&configuration)
        do {
            try configuration.validate()
            return nil
        } catch {
            return error.field
        }
    }

    @Test func aValidConfigurationPasses() {
        #expect(field { _ in } == nil)
        #expect(field { $0.enableRealtimeSync = true } == nil)
    }

    @Test func eachWrongFieldIsNamed() {
        #expect(field { $0.baseURL = "ftp://x" } == "baseURL")
        #expect(field { $0.baseURL = "not a url" } == "baseURL")
        #expect(field { $0.websocketURL = "http://x/ws" } == "websocketURL")
        #expect(field { $0.collections = ["ok", "bad name"] } == "collections[1]")
        #expect(field { $0.collections = ["a", "a"] } == "collections[1]")
        #expect(field { $0.collections = [] } == "collections")
        #expect(field { $0.syncInterval = .zero } == "syncInterval")
        #expect(field { $0.websocketReconnectDelay = .seconds(-1) } == "websocketReconnectDelay")
        #expect(field { $0.maxWebsocketReconnectAttempts = -1 } == "maxWebsocketReconnectAttempts")
        #expect(field { $0.pingInterval = .zero } == "pingInterval")
        #expect(field { $0.authToken = "" } == "authToken")
        #expect(field { $0.databasePath = "" } == "databasePath")
        #expect(field { $0.conflictStrategy = .custom } == "customConflictResolver")
        #expect(field { $0.customConflictResolver = .mergeFields } == "customConflictResolver")
        #expect(field { $0.baseURL = nil; $0.enableRealtimeSync = true } == "websocketURL")
        // Realtime over TLS to an IP address cannot work (the address would be the TLS server name).
        #expect(field { $0.baseURL = "https://10.0.0.5:8443"; $0.enableRealtimeSync = true } == "baseURL")
        #expect(field { $0.websocketURL = "wss://[::1]:8443/ws"; $0.enableRealtimeSync = true } == "websocketURL")
        #expect(field { $0.baseURL = "https://10.0.0.5:8443"; $0.enableRealtimeSync = false } == nil)
        #expect(field { $0.baseURL = "https://sync.example.org"; $0.enableRealtimeSync = true } == nil)
    }

    @Test func openingANodeWithAWrongConfigurationThrowsInsteadOfCrashing() async {
        var configuration = SyncConfiguration(databasePath: "/tmp/never-created.sqlite", collections: ["bad name"])
        configuration.syncInterval = .seconds(1)
        await #expect { _ = try await SyncNode.open(configuration) } throws: { ($0 as? ConfigurationError)?.field == "collections[0]" }
    }

    @Test func theWebSocketURLIsDerivedFromTheBaseURL() {
        #expect(SyncConfiguration(databasePath: "x", baseURL: "https://api.example.com/v1/").effectiveWebSocketURL == "wss://api.example.com/v1/ws")
        #expect(SyncConfiguration(databasePath: "x", baseURL: "http://127.0.0.1:8080").effectiveWebSocketURL == "ws://127.0.0.1:8080/ws")
    }
}
