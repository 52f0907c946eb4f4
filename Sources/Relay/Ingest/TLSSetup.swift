import NIOSSL

/// Syslog over TLS (RFC 5425): the relay's certificate and key from PEM files, TLS 1.2 or
/// newer, and optionally client certificates required and checked against a CA.
enum TLSSetup {
    static func serverContext(_ files: RelayConfiguration.TLSFiles) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificateFile)
        } catch {
            throw RelayError("tls.certificate_file \(files.certificateFile): cannot read a PEM certificate (\(error))")
        }
        do {
            key = try NIOSSLPrivateKey(file: files.keyFile, format: .pem)
        } catch {
            // The error never includes key material.
            throw RelayError("tls.key_file \(files.keyFile): cannot read a PEM private key")
        }
        guard !chain.isEmpty else { throw RelayError("tls.certificate_file \(files.certificateFile) holds no certificate") }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let ca = files.clientCAFile {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
            } catch {
                throw RelayError("tls.client_ca_file \(ca): cannot read PEM certificates (\(error))")
            }
            configuration.certificateVerification = .noHostnameVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw RelayError("tls: the certificate and key cannot be used together (\(error))")
        }
    }
}

extension RelayConfiguration {
    /// Loads the TLS certificate and key, as `relay run` would (for `relay check-config`).
    package func checkTLS() throws {
        if let tls { _ = try TLSSetup.serverContext(tls) }
    }
}
