import NIOSSL

/// TLS for the server: with it the one port speaks HTTPS and WSS only.
///
/// Both files are PEM: the certificate chain (the server's certificate first, then any
/// intermediates) and its private key. They are read when the server starts; a file that is
/// missing or holds no certificate or key stops the start with a ``ServerError`` naming it.
/// TLS 1.2 is the oldest version accepted.
public struct ServerTLS: Sendable, Hashable {
    /// PEM file of the certificate chain, the server's own certificate first.
    public var certificateChainPath: String
    /// PEM file of the certificate's private key.
    public var privateKeyPath: String

    /// Creates the TLS setting from the paths of the PEM certificate chain and of its private key.
    ///
    /// The files are read when the server starts, not here: one that cannot be read, or holds no
    /// certificate or key, makes ``SyncServer/run()`` throw a ``ServerError`` naming it.
    public init(certificateChainPath: String, privateKeyPath: String) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
    }

    /// The swift-nio-ssl server configuration from the two files.
    func makeConfiguration() throws(ServerError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateChainPath)
        } catch {
            throw ServerError(.configuration, "cannot read the TLS certificate chain \(certificateChainPath): \(error)")
        }
        guard !chain.isEmpty else {
            throw ServerError(.configuration, "\(certificateChainPath) holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
        } catch {
            throw ServerError(.configuration, "cannot read the TLS private key \(privateKeyPath): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}
