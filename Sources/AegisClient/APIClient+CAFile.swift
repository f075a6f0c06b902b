// APIClient+CAFile.swift — HTTP clients for https:// servers whose certificate chains to a CA
// file (`--ca-file`, AEGIS_CA_FILE), e.g. the controller's cluster CA.
import AsyncHTTPClient
import NIOSSL
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

extension APIClient {
    /// Clients by CA file: they live as long as the process (AsyncHTTPClient traps when a client
    /// is deallocated without a shutdown).
    private static let caFileClients = Mutex<[String: HTTPClient]>([:])

    /// A process-lifetime HTTP client that trusts only `caFile` (never shut down, like the shared one).
    /// - Throws: `ClientError` naming `--ca-file`: unreadable (errno) or not a PEM certificate.
    public static func httpClient(trustingCAFile caFile: String) throws -> HTTPClient {
        guard access(caFile, R_OK) == 0 else { throw ClientError("--ca-file \(caFile): \(String(cString: strerror(errno)))", errno: errno) }
        var tls = TLSConfiguration.makeClientConfiguration()
        do { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) } catch {
            throw ClientError("--ca-file \(caFile): not a PEM certificate (\(error))")
        }
        return caFileClients.withLock { all in
            if let existing = all[caFile] { return existing }
            let client = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: HTTPClient.Configuration(
                    tlsConfiguration: tls, redirectConfiguration: .disallow,
                    timeout: .init(connect: .seconds(10), read: nil)))
            all[caFile] = client
            return client
        }
    }
}
