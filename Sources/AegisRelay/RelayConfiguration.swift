// RelayConfiguration.swift — what `aegis relay` is told: where to listen, which upstreams (the
// gateway's cluster port, tried in order), the public ticket key, ping and handshake bounds.
import Crypto
import Foundation
import NIOCore
import NIOSSL

/// A `HOST:PORT` (IPv6 hosts in brackets: `[::1]:7443`).
public struct RelayAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`; `flag` names the option in the error.
    /// - Throws: `RelayConfigurationError` naming the flag and the text.
    public init(parsing text: String, flag: String) throws(RelayConfigurationError) {
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw RelayConfigurationError(flag: flag, "\(text): expected [IPV6]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw RelayConfigurationError(flag: flag, "\(text): expected HOST:PORT") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        if host == "*" { host = "0.0.0.0" }
        guard !host.isEmpty, let port = Int(portText), (0...65_535).contains(port) else {
            throw RelayConfigurationError(flag: flag, "\(text): expected HOST:PORT with a port 0…65535")
        }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A relay option that can't be used: the flag and why.
public struct RelayConfigurationError: Error, Sendable, CustomStringConvertible {
    public let flag: String
    public let message: String

    public init(flag: String, _ message: String) {
        self.flag = flag
        self.message = message
    }

    public var description: String { "\(flag): \(message)" }
}

/// Which way a relayed chunk went.
public enum RelayDirection: Sendable, Equatable {
    /// From the edge to the upstream.
    case toUpstream
    /// From the upstream to the edge.
    case toEdge
}

/// A relay server's settings.
public struct RelayConfiguration: Sendable {
    /// The WebSocket path edges dial.
    public static let path = "/v1/relay"
    /// The `Authorization` scheme a ticket is presented with: `Authorization: AegisRelay <ticket>`.
    public static let authorizationScheme = "AegisRelay"
    /// The response header naming why a dial was refused (`RelayTicketError.reason` and a few more).
    public static let refusalHeader = "X-Aegis-Relay-Refusal"

    /// Where edges connect (port 0: any free port, see `RelayServer.listeningPort()`).
    public var listen: RelayAddress
    /// The gateway's cluster endpoints, tried in order for each session.
    public var upstreams: [RelayAddress]
    /// The cluster's public ticket key: the only key tickets are checked with.
    public var ticketKey: Curve25519.Signing.PublicKey {
        get { try! Curve25519.Signing.PublicKey(rawRepresentation: ticketKeyBytes) }  // 32 bytes of a key that was valid
        set { ticketKeyBytes = Array(newValue.rawRepresentation) }
    }
    /// The key's raw 32 bytes (swift-crypto's key type is not Sendable; its bytes are).
    private var ticketKeyBytes: [UInt8]
    /// WebSocket ping period towards each edge; an edge that answers none for two periods is closed.
    public var pingInterval: Duration = .seconds(10)
    /// From accept to a verified ticket and an open upstream (TLS and HTTP included); then the
    /// connection is closed. Bounds what an anonymous client can hold.
    public var handshakeTimeout: Duration = .seconds(10)
    /// Each upstream's TCP connect timeout.
    public var upstreamConnectTimeout: Duration = .seconds(5)
    /// Clock difference allowed on a ticket's not-before and expiry, ms.
    public var clockSkewMs: Int64 = 30_000
    /// TLS for the relay's own listener (nil: plain WebSocket; the edge's stream is end-to-end TLS either way).
    public var tls: TLSConfiguration?
    /// Largest WebSocket frame accepted or sent, bytes.
    public var maxFrameBytes = 1 << 20
    /// Sees every chunk the relay forwards (tests: what a relay could read).
    public var tap: (@Sendable (RelayDirection, ByteBuffer) -> Void)?
    /// The clock tickets are checked against, Unix ms (tests inject one).
    public var nowMs: @Sendable () -> Int64 = { RelayClock.unixMs() }

    /// - Throws: `RelayConfigurationError` when `upstreams` is empty.
    public init(listen: RelayAddress, upstreams: [RelayAddress], ticketKey: Curve25519.Signing.PublicKey) throws(RelayConfigurationError) {
        guard !upstreams.isEmpty else { throw RelayConfigurationError(flag: "--upstream", "at least one upstream HOST:PORT is needed") }
        self.listen = listen
        self.upstreams = upstreams
        self.ticketKeyBytes = Array(ticketKey.rawRepresentation)
    }
}

/// Wall-clock time as tickets state it.
public enum RelayClock {
    /// CLOCK_REALTIME now, Unix ms.
    public static func unixMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

extension RelayConfiguration {
    /// TLS for the relay's own listener from PEM files (TLS 1.2 or later, no client certificates:
    /// edges authenticate with their ticket here, and to the cluster inside the stream).
    /// - Throws: NIOSSL's error naming the unreadable or invalid file.
    public static func serverTLS(certificatePath: String, keyPath: String) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath).map { NIOSSLCertificateSource.certificate($0) }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: keyPath, format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        return tls
    }
}
