// ClusterListener.swift — the controller's cluster port (`aegis up --listen HOST:PORT`): the tenant
// API over TLS, with a server certificate issued at start by the cluster CA (the controller's
// ClusterAuthority: <data-dir>/pki, created on the first start). Clients trust <data-dir>/pki/ca.crt (`--ca-file`).
// Client certificates are optional here and, when presented, must chain to the cluster CA
// (node↔controller traffic will present them; tenants authenticate with tokens).
import AegisPKI
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL

/// The cluster port's TLS set-up (`NodeConfiguration.parseListen` reads --listen).
public enum ClusterListener {
    /// Names the server certificate covers: the node name, the listen host unless a wildcard,
    /// localhost, and every IPv4 address of this host.
    public static func serverHosts(name: String, listenHost: String) -> [String] {
        var hosts = [name, "localhost", "127.0.0.1"]
        if listenHost != "0.0.0.0" && listenHost != "::" { hosts.append(listenHost) }
        var ifap: UnsafeMutablePointer<ifaddrs>?
        if getifaddrs(&ifap) == 0, let first = ifap {
            var p: UnsafeMutablePointer<ifaddrs>? = first
            while let ifa = p {
                if let sa = ifa.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET) {
                    var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                    sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                        var a = sin.pointee.sin_addr
                        _ = inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count))
                    }
                    hosts.append(String(cString: buf))
                }
                p = ifa.pointee.ifa_next
            }
            freeifaddrs(first)
        }
        var seen = Set<String>()
        return hosts.filter { seen.insert($0).inserted }
    }

    /// The TLS configuration: server certificate + key from the CA, client certificates optional
    /// but verified against the cluster CA when presented, TLS 1.2 at least.
    public static func tlsConfiguration(ca: ClusterCA, hosts: [String]) throws -> TLSConfiguration {
        let server = try ca.issueServerCertificate(hosts: hosts)
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(server.certificatePEM.utf8)).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(bytes: Array(server.privateKeyPEM.utf8), format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .optionalVerification
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)))
        return tls
    }
}
