import AsyncHTTPClient
import Foundation
import NIOSSL
import SyncLayer
import SyncServer
import SyncTesting
import Testing
import SyncCore

/// The server over TLS (HTTPS and WSS on one port), and nodes that check its certificate.
///
/// The certificates are test fixtures (`Tests/Fixtures/tls`, see its README): a test authority,
/// a server certificate it signed for 127.0.0.1 and localhost, and another authority that signed
/// nothing of ours.
@Suite struct TLSTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tls")
    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }
    static let serverTLS = ServerTLS(certificateChainPath: fixture("server.pem"), privateKeyPath: fixture("server-key.pem"))

    /// A node syncs over WSS (realtime) and another over HTTPS (polling); every byte between them
    /// and the server, recorded by a proxy, is TLS: no document text, no collection name in clear.
    @Test func nodesSyncOverTLSAndNothingTravelsInClear() async throws {
        try await withTemporaryDirectory(prefix: "tls") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"), tls: Self.serverTLS)
            let proxy = try await TCPProxy.start(targetPort: server.port, recording: true)
            // A host name: the WebSocket client sends it as the TLS server name (see Docs/Security.md).
            let url = "https://localhost:\(proxy.port)"
            let writer = try await TestNode.start(path: directory.file("a.sqlite"), baseURL: url, collections: ["patients"]) {
                $0.trustedCertificatesPath = Self.fixture("ca.pem")
            }
            let reader = try await TestNode.start(path: directory.file("b.sqlite"), baseURL: url, collections: ["patients"], realtime: false) {
                $0.trustedCertificatesPath = Self.fixture("ca.pem")
            }
            await writer.waitUntilConnected()
            let secret = "blood type AB- for bed \(UUID().uuidString)"
            // Long enough that no run of ciphertext matches it by chance (a 3-byte needle did, once).
            let recordID = "patient-\(UUID().uuidString)"
            _ = try await writer.node.collection("patients").save(["note": .string(secret)], id: recordID)
            #expect(try await server.waitUntil { try await server.store.changes(after: 0, collections: ["patients"]).changes.count == 1 })
            #expect(await reader.node.syncNow(), "the polling node pulls over HTTPS")
            #expect(try await reader.node.collection("patients").get(recordID)?["note"] == .string(secret))

            let recorded = proxy.recorded
            #expect(recorded.count > 1_000, "the proxy saw the traffic (\(recorded.count) bytes)")
            // Every connection opens with a TLS handshake record (content type 22, version 3.x).
            #expect(recorded.starts(with: [0x16, 0x03]))
            for clear in [secret, "patients", recordID, "Upgrade: websocket", "/sync/"] {
                #expect(recorded.firstRange(of: Array(clear.utf8)) == nil, "\"\(clear)\" crossed the wire in clear")
            }
            await reader.stop()
            await writer.stop()
            await proxy.stop()
            await server.stop()
        }
    }

    /// A node whose trust does not cover the server's certificate sends nothing to it, over
    /// HTTPS or WSS, and keeps its write in the outbox; a plain-HTTP client is not served.
    @Test func aServerOutsideTheNodesTrustGetsNothing() async throws {
        try await withTemporaryDirectory(prefix: "tls") { directory in
            let server = try await TestServer.start(databasePath: directory.file("server.sqlite"), tls: Self.serverTLS)
            let node = try await TestNode.start(path: directory.file("a.sqlite"), baseURL: "https://localhost:\(server.port)", collections: ["patients"]) {
                $0.trustedCertificatesPath = Self.fixture("other-ca.pem")
            }
            _ = try await node.node.collection("patients").save(["note": "kept"], id: "p1")
            let events = node.node.events()
            #expect(await node.node.syncNow() == false)
            var failure: String?
            for await event in events where event.kind == .syncFailed {
                failure = event.error
                break
            }
            #expect(failure?.contains("CERTIFICATE_VERIFY_FAILED") == true, "the failure names the certificate: \(failure ?? "none")")
            // The realtime link fails the same way, and waits to retry (or, attempts exhausted, polls).
            for await state in node.node.linkStates() where state == .reconnecting || state == .error { break }
            #expect(node.node.metrics().errorCounts.keys.contains { $0.hasPrefix("realtime connect") && $0.contains("CERTIFICATE_VERIFY_FAILED") })
            #expect(try await server.store.changes(after: 0, collections: ["patients"]).changes.isEmpty)
            #expect(try await node.node.store.outboxCount() == 1, "the write waits in the outbox")

            // Plain HTTP on the TLS port is not served; HTTPS with the right trust is.
            await #expect(throws: (any Error).self, "plain HTTP is not served") {
                _ = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/metrics"), timeout: .seconds(3))
            }
            var configuration = HTTPClient.Configuration()
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(Self.fixture("ca.pem")))
            configuration.tlsConfiguration = tls
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            let response = try await client.execute(HTTPClientRequest(url: "\(server.baseURL)/metrics"), timeout: .seconds(10))
            #expect(response.status.code == 200)
            try await client.shutdown()
            await node.stop()
            await server.stop()
        }
    }

    /// Unreadable certificate files stop the server's start, and the node's open, with a clear error.
    @Test func badCertificateFilesAreClearErrors() async throws {
        try await withTemporaryDirectory(prefix: "tls") { directory in
            let missing = ServerTLS(certificateChainPath: directory.file("none.pem"), privateKeyPath: Self.fixture("server-key.pem"))
            await #expect(throws: ServerError.self) {
                _ = try await TestServer.start(databasePath: directory.file("server.sqlite"), tls: missing)
            }
            var configuration = SyncConfiguration(databasePath: directory.file("a.sqlite"), baseURL: "https://127.0.0.1:1", collections: ["patients"])
            configuration.trustedCertificatesPath = Self.fixture("server-key.pem")
            do {
                _ = try await SyncNode.open(configuration)
                Issue.record("a node opened trusting a file with no certificate")
            } catch let error as ConfigurationError {
                #expect(error.field == "trustedCertificatesPath")
            }
        }
    }
}
