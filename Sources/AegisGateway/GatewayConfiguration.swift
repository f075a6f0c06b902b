// GatewayConfiguration.swift — `aegis gateway`'s inputs as typed (GatewayFlags) and the validated
// configuration a gateway runs with. Every flag rule lives here; an error names its flag.
import AegisPKI
import AegisProtocol
import Foundation
import Logging

/// The raw `aegis gateway` inputs, as the command line gave them.
public struct GatewayFlags: Sendable {
    public var listen = "0.0.0.0:7443"
    public var healthListen = "127.0.0.1:7444"
    public var controllerSocket = "/run/aegis/controller.sock"
    /// The unix socket serving the gateway's /metrics (and /healthz, /readyz); nil: none.
    public var adminSocket: String?
    public var pkiDir = "/var/lib/aegis/pki"
    public var name: String?
    public var maxBodyBytes = "96Mi"
    public var rate = "50"
    public var burst = 100
    public var maxConcurrent = 32
    public var refusalDelay = "1s"
    public var logLevel = "info"

    public init() {}
}

/// A flag that can't be used as given; `message` names the flag.
public struct GatewayConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The offending flag, e.g. "--rate".
    public var flag: String
    public var message: String
    public var description: String { message }

    public init(_ flag: String, _ message: String) {
        self.flag = flag
        self.message = message
    }
}

/// A validated gateway configuration (`Gateway.init` checks it again with `validate()`).
public struct GatewayConfiguration: Sendable {
    /// A TCP address to listen on; port 0 picks a free port (`Gateway.listeningPorts()` tells which).
    public typealias Address = ListenAddress

    /// The TLS cluster port (`--listen`).
    public var listen: Address
    /// The plain-HTTP probe port (`--health-listen`), loopback only.
    public var healthListen: Address
    /// The controller's API unix socket every request is forwarded to (`--controller-socket`).
    public var controllerSocket: String
    /// The unix socket (mode 0660) serving plain-HTTP GET /metrics (the gateway's series, for the
    /// metrics sidecar), /healthz and /readyz (`--admin-socket`); nil: none.
    public var adminSocket: String?
    /// The cluster CA's directory (`ca.crt`, `ca.key`; `--pki-dir`).
    public var pkiDirectory: String
    /// This gateway's name: CN's host and the first DNS name of its server certificate (`--name`).
    public var name: String
    /// Largest request body forwarded, in bytes (`--max-body-bytes`, default 96 MiB: a 64 MiB
    /// upload base64-encoded plus the document around it).
    public var maxBodyBytes: Int
    /// Requests per second each tenant's token bucket refills with (`--rate`).
    public var rate: Double
    /// Requests a tenant may make at once after idling: the bucket's size (`--burst`).
    public var burst: Int
    /// Requests of one tenant in flight at once, streams included (`--max-concurrent`).
    public var maxConcurrent: Int
    /// How long a request refused by a fair limit (429) waits before its answer goes out
    /// (`--refusal-delay`, default 1 s, at most 10 s; 0: at once). A client that retries at once
    /// instead of honouring Retry-After gets one refusal per connection per delay, so refusing a
    /// flood costs the gateway little; a client that honours it waits no longer than it would.
    public var refusalDelay: Duration = .seconds(1)
    /// Join attempts per second per client IP (POST /v1/cluster/join), default 5.
    public var joinRate: Double = 5
    /// The join bucket's size per client IP, default 10.
    public var joinBurst: Int = 10
    /// How long the controller may take to answer with a response head once the request body is
    /// sent (default 30 s); then 504.
    public var responseHeadTimeout: Duration = .seconds(30)
    /// How long a resolved bearer token's tenant is reused (default 30 s).
    public var tenantCacheTTL: Duration = .seconds(30)
    /// On shutdown, how long in-flight requests and streams may take to finish (default 10 s).
    public var drainTimeout: Duration = .seconds(10)
    /// An idle keep-alive connection is closed after this long (default 90 s).
    public var idleTimeout: Duration = .seconds(90)
    /// How often the CA directory is looked at again while it has no CA yet (default 1 s).
    public var caPollInterval: Duration = .seconds(1)
    public var logLevel: Logger.Level

    /// A configuration from explicit values, validated.
    /// - Throws: `GatewayConfigurationError` naming the flag the value stands for.
    public init(
        listen: Address, healthListen: Address, controllerSocket: String, pkiDirectory: String,
        adminSocket: String? = nil, name: String = "aegis-gateway", maxBodyBytes: Int = 96 << 20, rate: Double = 50,
        burst: Int = 100, maxConcurrent: Int = 32, refusalDelay: Duration = .seconds(1), logLevel: Logger.Level = .info
    ) throws(GatewayConfigurationError) {
        self.listen = listen
        self.healthListen = healthListen
        self.controllerSocket = controllerSocket
        self.adminSocket = adminSocket
        self.pkiDirectory = pkiDirectory
        self.name = name
        self.maxBodyBytes = maxBodyBytes
        self.rate = rate
        self.burst = burst
        self.maxConcurrent = maxConcurrent
        self.refusalDelay = refusalDelay
        self.logLevel = logLevel
        try validate()
    }

    /// The configuration `aegis gateway` runs with.
    /// - Throws: `GatewayConfigurationError` naming the flag.
    public init(_ flags: GatewayFlags) throws(GatewayConfigurationError) {
        let bytes: Int64
        do { bytes = try Quantity.memoryBytes(flags.maxBodyBytes, field: "--max-body-bytes") } catch {
            throw GatewayConfigurationError("--max-body-bytes", error.description)
        }
        guard let rate = Double(flags.rate) else {
            throw GatewayConfigurationError("--rate", "--rate \(flags.rate): not a number of requests per second (e.g. 50 or 0.5)")
        }
        let delayMs: Int
        do {
            delayMs = try Quantity.durationMilliseconds(
                flags.refusalDelay, field: "--refusal-delay", maxMilliseconds: Self.maxRefusalDelayMs, allowZero: true)
        } catch {
            throw GatewayConfigurationError("--refusal-delay", error.description)
        }
        guard let level = Logger.Level(rawValue: flags.logLevel) else {
            throw GatewayConfigurationError(
                "--log-level", "--log-level \(flags.logLevel): expected trace, debug, info, notice, warning, error or critical")
        }
        try self.init(
            listen: try Self.parseAddress(flags.listen, flag: "--listen"),
            healthListen: try Self.parseAddress(flags.healthListen, flag: "--health-listen"),
            controllerSocket: flags.controllerSocket, pkiDirectory: flags.pkiDir, adminSocket: flags.adminSocket,
            name: flags.name ?? "aegis-gateway", maxBodyBytes: Int(clamping: bytes), rate: rate, burst: flags.burst,
            maxConcurrent: flags.maxConcurrent, refusalDelay: .milliseconds(delayMs), logLevel: level)
    }

    /// Checks every value against its range.
    /// - Throws: `GatewayConfigurationError` naming the flag.
    public func validate() throws(GatewayConfigurationError) {
        for (flag, address) in [("--listen", listen), ("--health-listen", healthListen)]
        where address.host.isEmpty || !(0...65535).contains(address.port) {
            throw GatewayConfigurationError(flag, "\(flag) \(address): expected HOST:PORT with a port 0-65535")
        }
        guard ["127.0.0.1", "::1", "localhost"].contains(healthListen.host) else {
            throw GatewayConfigurationError(
                "--health-listen", "--health-listen \(healthListen): probes are served on loopback only (127.0.0.1, ::1 or localhost)")
        }
        try Self.checkPath(controllerSocket, flag: "--controller-socket")
        try Self.checkPath(pkiDirectory, flag: "--pki-dir")
        if let adminSocket {
            try Self.checkPath(adminSocket, flag: "--admin-socket")
            guard adminSocket != controllerSocket else {
                throw GatewayConfigurationError("--admin-socket", "--admin-socket \(adminSocket): the same path as --controller-socket")
            }
        }
        do { try NodeName.validate(name) } catch {
            throw GatewayConfigurationError("--name", "--name \(name): \(error)")
        }
        guard (1...(1 << 40)).contains(maxBodyBytes) else {
            throw GatewayConfigurationError("--max-body-bytes", "--max-body-bytes \(maxBodyBytes): expected 1 byte to 1Ti")
        }
        guard rate.isFinite, rate >= 0.001, rate <= 1_000_000 else {
            throw GatewayConfigurationError("--rate", "--rate \(rate): expected 0.001 to 1000000 requests per second")
        }
        guard (1...1_000_000).contains(burst) else {
            throw GatewayConfigurationError("--burst", "--burst \(burst): expected 1 to 1000000 requests")
        }
        guard (1...100_000).contains(maxConcurrent) else {
            throw GatewayConfigurationError("--max-concurrent", "--max-concurrent \(maxConcurrent): expected 1 to 100000 requests")
        }
        guard refusalDelay >= .zero, refusalDelay <= .milliseconds(Self.maxRefusalDelayMs) else {
            throw GatewayConfigurationError("--refusal-delay", "--refusal-delay \(refusalDelay): expected 0 to 10s")
        }
    }

    /// The longest `--refusal-delay`: 10 s.
    static let maxRefusalDelayMs = 10_000

    /// "HOST:PORT" (IPv6 as "[::1]:7443").
    /// - Throws: `GatewayConfigurationError` naming `flag`.
    public static func parseAddress(_ text: String, flag: String) throws(GatewayConfigurationError) -> Address {
        do { return try ListenAddress(parsing: text) } catch { throw GatewayConfigurationError(flag, "\(flag) \(text): \(error.message)") }
    }

    static func checkPath(_ path: String, flag: String) throws(GatewayConfigurationError) {
        guard path.hasPrefix("/"), !path.contains("\0") else {
            throw GatewayConfigurationError(flag, "\(flag) \(path): expected an absolute path")
        }
        // sockaddr_un's sun_path holds 107 bytes and the terminating NUL.
        if flag.hasSuffix("-socket"), path.utf8.count > 107 {
            throw GatewayConfigurationError(flag, "\(flag) \(path): a unix socket path is at most 107 bytes")
        }
    }
}
