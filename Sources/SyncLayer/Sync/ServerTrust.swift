import NIOSSL
import SyncCore

/// The TLS a node uses to reach its server over `https://` and `wss://`.
///
/// With ``SyncConfiguration/trustedCertificatesPath`` the server's certificate must chain to one
/// of the certificates in that PEM file, and to nothing else (a team's own certificate authority,
/// or a self-signed server certificate); without it, to the system's roots. The host name or IP
/// address in the URL must match the certificate either way, and TLS 1.2 is the oldest version
/// accepted. Polling and the realtime link use the same configuration.
enum ServerTrust {
    static func tlsConfiguration(for configuration: SyncConfiguration) throws(ConfigurationError) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        guard let path = configuration.trustedCertificatesPath else { return tls }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw ConfigurationError(field: "trustedCertificatesPath", message: "cannot read PEM certificates from \(path): \(error)")
        }
        guard !certificates.isEmpty else {
            throw ConfigurationError(field: "trustedCertificatesPath", message: "\(path) holds no PEM certificate")
        }
        tls.trustRoots = .certificates(certificates)
        return tls
    }
}
