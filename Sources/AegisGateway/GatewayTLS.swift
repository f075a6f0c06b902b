// GatewayTLS.swift — the cluster port's TLS: a server certificate issued in memory by the cluster
// CA at start (as the controller's own cluster listener does), client certificates optional but,
// when presented, verified against the cluster CA during the handshake (a certificate of another
// CA fails it), TLS 1.2 at least; and who a connection's peer is (`ClientIdentity`).
import AegisPKI
import Foundation
import NIOCore
import NIOSSL

enum GatewayTLS {
    /// Names the server certificate covers: `name`, localhost, 127.0.0.1, the listen host unless a
    /// wildcard, and every IPv4 address of this host (workers dial the cluster port by address).
    static func serverHosts(name: String, listenHost: String) -> [String] {
        var hosts = [name, "localhost", "127.0.0.1"]
        if !["0.0.0.0", "::", "*"].contains(listenHost) { hosts.append(listenHost) }
        var list: UnsafeMutablePointer<ifaddrs>?
        if getifaddrs(&list) == 0, let first = list {
            var next: UnsafeMutablePointer<ifaddrs>? = first
            while let entry = next {
                if let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) {
                    var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                        var raw = sin.pointee.sin_addr
                        _ = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
                    }
                    hosts.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                }
                next = entry.pointee.ifa_next
            }
            freeifaddrs(first)
        }
        var seen = Set<String>()
        return hosts.filter { seen.insert($0).inserted }
    }

    /// Server certificate and key from `ca` for `hosts`; client certificates optional and verified
    /// against `ca` when presented; TLS 1.2 or later.
    /// - Throws: `GatewayError` (step "issuing the gateway's server certificate") with the PKI or
    ///   NIOSSL error as `underlying`.
    static func configuration(ca: ClusterCA, name: String, hosts: [String]) throws -> TLSConfiguration {
        do {
            let server = try ca.issueServerCertificate(hosts: hosts, commonName: name)
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(server.certificatePEM.utf8)).map {
                NIOSSLCertificateSource.certificate($0)
            }
            let key = try NIOSSLPrivateKey(bytes: Array(server.privateKeyPEM.utf8), format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            tls.minimumTLSVersion = .tlsv12
            // A closing connection waits this long for the client's close_notify (NIOSSL's default
            // is 5 s): a client that never answers would hold the drain.
            tls.shutdownTimeout = .seconds(1)
            tls.certificateVerification = .optionalVerification
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.certificatePEM.utf8)))
            return tls
        } catch {
            throw GatewayError("issuing the gateway's server certificate from the cluster CA: \(error)", underlying: error)
        }
    }
}

/// Who the peer of a TLS connection is, as the gateway tells the controller.
enum ClientIdentity: Sendable, Equatable {
    /// No client certificate (a tenant with a bearer token, or a node joining).
    case anonymous
    /// A certificate that chained to the cluster CA in the handshake and passed the node-certificate
    /// checks (`PKIVerifier`, client authentication): its DER in base64, its subject CN.
    case verified(certificateBase64: String, commonName: String)
    /// A certificate of the cluster CA that fails the node-certificate checks; requests get 403.
    case refused(reason: String)

    /// The subject CN of a verified certificate.
    var commonName: String? {
        if case .verified(_, let cn) = self { return cn }
        return nil
    }

    /// The identity of `channel`'s TLS peer (call it once the handshake is done: when the first
    /// request head has been read). A channel without TLS is anonymous.
    static func of(channel: any Channel, verifier: PKIVerifier) async -> ClientIdentity {
        let certificate: NIOSSLCertificate?
        do { certificate = try await channel.nioSSL_peerCertificate().get() } catch { return .anonymous }
        guard let certificate else { return .anonymous }
        do {
            let der = try certificate.toDERBytes()
            let node = try verifier.verifyNodeCertificate(der: der, purpose: .clientAuth)
            return .verified(certificateBase64: Data(der).base64EncodedString(), commonName: node.nodeName)
        } catch {
            return .refused(reason: "client certificate refused: \(error)")
        }
    }
}
