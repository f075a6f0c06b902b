// NodeConfiguration.swift — `aegis up`'s inputs as given (NodeFlags, strings as typed) and the
// validated configuration a node runs with. Every flag rule lives here: durations, the join URL,
// ports, which flags go with which role, egress settings, labels, the log cap. Errors name the flag.
import AegisClient
import AegisControl
import AegisImage
import AegisNet
import AegisNode
import AegisProtocol
import AegisScheduler
import AegisStorePostgres
import AegisSystem
import Foundation
import Logging

/// The raw `aegis up` inputs, as the command line gave them (nil: not given).
public struct NodeFlags: Sendable {
    public var dataDir: String?
    public var role: NodeRole = .hybrid
    public var join: String?
    public var token: String?
    public var tokenFile: String?
    public var leaseRenewEvery: String = "5s"
    public var notReadyAfter: String?
    public var downAfter: String?
    public var rescheduleMargin: String?
    public var leaseGrace: String?
    public var rejoin = false
    public var detectRoot: String?
    public var nodeCertValidity: String?
    public var name: String?
    public var apiPort: Int = 7420
    public var listen: String?
    public var socket: String?
    public var labels: [String] = []
    public var allowUnenforcedLimits = false
    public var drainOnExit = false
    public var cgroupParent: String?
    public var egress = false
    public var egressSubnet: String?
    public var egressBridge: String?
    public var egressDeny: [String] = []
    public var reach: [String] = []
    public var strategy: String = "binpack"
    public var logLevel: String = "info"
    public var logCap: String?
    public var outputRetention: String?
    public var insecureRegistries: [String] = []
    public var registryCA: String?
    public var registryAuth: String?
    public var localImages: [String] = []
    public var imageGCHighThreshold: Int = 85
    public var imageGCLowThreshold: Int = 80
    /// Controller: where its state lives: nil or "sqlite" (the data directory's aegis.db) or a
    /// postgres:// URL (a replicated controller: several on one database, one leader).
    public var datastore: String?
    public var datastorePasswordFile: String?
    public var leaderLease: String?
    public var leaderRenew: String?

    public init() {}
}

/// A flag that can't be used as given; `message` names the flag.
public struct NodeConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The offending flag, e.g. "--lease-grace".
    public var flag: String
    public var message: String
    public var description: String { message }

    public init(_ flag: String, _ message: String) {
        self.flag = flag
        self.message = message
    }
}

/// A validated node configuration: what `NodeRuntime` (controller, hybrid) and `WorkerRuntime`
/// (worker) start from.
public struct NodeConfiguration: Sendable {
    public var role: NodeRole
    public var paths: AegisPaths
    public var name: String
    /// TCP port of the API on 127.0.0.1 (0: any free port, written to `<data-dir>/api.port`).
    public var apiPort: Int
    /// The cluster port (controller, hybrid): TLS API and worker sessions.
    public var listen: (host: String, port: Int)?
    /// Controller in its pod (`aegis controller --socket`): the only listener, a unix socket the
    /// gateway forwards to and the metrics sidecar and probes read (`APIListenerKind.podSocket`).
    public var podSocket: String?
    /// Worker: the controllers' cluster ports, https://HOST:PORT, comma-separated (`joinURLs`).
    public var join: String?
    /// Worker: `--join` split at commas, in order: the session tries the next one when a
    /// controller can't be reached or is a standby.
    public var joinURLs: [String] { join.map(Self.splitJoin) ?? [] }
    /// Controller: where the state lives.
    public var datastore: Datastore
    /// Controller on PostgreSQL: the leader election terms (`--leader-lease`, `--leader-renew`).
    public var leaderTerms: LeaderTerms
    /// Worker: the join token for the first start (nil: the identity on disk is used).
    public var joinToken: String?
    public var rejoin: Bool
    public var labels: [String: String]
    public var allowUnenforcedLimits: Bool
    public var drainOnExit: Bool
    public var cgroupParent: String?
    public var egress: EgressConfig?
    public var scheduler: SchedulerConfig
    /// Lease timing the controller enforces and sends to workers.
    public var leases: LeaseConfig
    /// Worker: how often it renews its lease, milliseconds.
    public var renewEveryMs: Int
    /// Worker: its agents fence themselves this long after the last acknowledged renewal, milliseconds.
    public var leaseGraceMs: Int
    public var detectRoot: String?
    /// Controller: lifetime of issued node certificates, seconds (nil: the default, 90 days).
    public var nodeCertificateValiditySeconds: Double?
    /// Per-stream log history cap, bytes.
    public var logCapBytes: Int
    /// Worker: how long an ended placement's logs and outputs stay on the node, seconds.
    public var outputRetentionSeconds: Int64
    public var logLevel: Logger.Level
    /// Worker: how image pulls reach registries (`--insecure-registry`, `--registry-ca`, `--registry-auth`).
    public var registry: RegistryOptions
    /// Worker: directories beneath which workloads may name `oci:`/`oci-archive:` images (`--local-images`).
    public var localImageDirectories: [String]
    /// Worker: automatic image garbage collection (`--image-gc-high-threshold`, `--image-gc-low-threshold`).
    public var imageGC: ImageGCPolicy

    /// Checks every rule; reads the join token (--token-file, AEGIS_JOIN_TOKEN) for a worker.
    /// - Parameter hostName: the default node name (lowercased).
    /// - Throws: `NodeConfigurationError` naming the first flag that can't be used.
    public init(_ flags: NodeFlags, hostName: String = ProcessInfo.processInfo.hostName) throws {
        try Self.checkAPIPort(flags.apiPort)
        role = flags.role
        renewEveryMs = try Self.duration(flags.leaseRenewEvery, "--lease-renew-every")
        leaseGraceMs = try Self.duration(flags.leaseGrace ?? "40s", "--lease-grace")
        try Self.checkRoleFlags(flags, renewEveryMs: renewEveryMs, graceMs: leaseGraceMs)
        logCapBytes = try Self.logCapBytes(flags.logCap)
        outputRetentionSeconds = try Self.parseOutputRetention(flags.outputRetention)
        leases = try Self.leaseConfig(flags, renewEveryMs: renewEveryMs)
        guard let strategy = ScoringStrategy(rawValue: flags.strategy) else {
            throw NodeConfigurationError("--strategy", "--strategy: binpack or spread")
        }
        scheduler = SchedulerConfig(strategy: strategy)
        labels = try Self.labels(flags.labels)
        let dataDir = flags.dataDir ?? AegisPaths.defaultDataDir()
        paths = AegisPaths(dataDir: dataDir)
        egress = try Self.egressConfig(flags, stateDir: dataDir + "/network")
        listen = try flags.listen.map { try Self.parseListen($0) }
        podSocket = flags.socket
        join = flags.join
        joinToken = nil
        if flags.role == .worker {
            do { joinToken = try JoinTokenInput.resolve(flag: flags.token, file: flags.tokenFile) } catch {
                throw NodeConfigurationError(flags.tokenFile != nil ? "--token-file" : "--token", "\(error)")
            }
        }
        rejoin = flags.rejoin
        allowUnenforcedLimits = flags.allowUnenforcedLimits
        drainOnExit = flags.drainOnExit
        cgroupParent = flags.cgroupParent
        detectRoot = flags.detectRoot
        nodeCertificateValiditySeconds = try flags.nodeCertValidity.map { Double(try Self.duration($0, "--node-cert-validity")) / 1000 }
        apiPort = flags.apiPort
        name = flags.name ?? hostName.lowercased()
        logLevel = Logger.Level(rawValue: flags.logLevel) ?? .info
        for (flag, file) in [("--registry-ca", flags.registryCA), ("--registry-auth", flags.registryAuth)] {
            if let file, access(file, R_OK) != 0 { throw NodeConfigurationError(flag, "\(flag) \(file): \(Errno.current.explained)") }
        }
        for dir in flags.localImages {
            var st = stat()
            guard dir.hasPrefix("/"), stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw NodeConfigurationError("--local-images", "--local-images \(dir): not an absolute path of a directory")
            }
        }
        localImageDirectories = flags.localImages
        guard (0...100).contains(flags.imageGCHighThreshold), (0...100).contains(flags.imageGCLowThreshold),
            flags.imageGCLowThreshold <= flags.imageGCHighThreshold
        else {
            throw NodeConfigurationError(
                "--image-gc-high-threshold",
                "--image-gc-high-threshold \(flags.imageGCHighThreshold) and --image-gc-low-threshold \(flags.imageGCLowThreshold): percents of 0…100, low not above high"
            )
        }
        imageGC = ImageGCPolicy(highPercent: flags.imageGCHighThreshold, lowPercent: flags.imageGCLowThreshold)
        (datastore, leaderTerms) = try Self.datastore(flags)
        registry = RegistryOptions(
            insecureRegistries: Set(flags.insecureRegistries), caFile: flags.registryCA, authFile: flags.registryAuth,
            userAgent: "aegis-worker")
    }
}

extension NodeConfiguration {
    /// `--api-port`: 0…65535 (0: any free port).
    public static func checkAPIPort(_ port: Int) throws {
        guard Bounds.ports.contains(port) else {
            throw NodeConfigurationError(
                "--api-port", "--api-port \(port): out of range \(Bounds.ports.lowerBound)…\(Bounds.ports.upperBound) (0: any free port)")
        }
    }

    /// Which flags go with which role: a worker needs --join and takes no controller setting; a
    /// controller needs --listen and takes no worker setting; only a worker joins.
    static func checkRoleFlags(_ f: NodeFlags, renewEveryMs: Int, graceMs: Int) throws {
        let controllerFlags = [
            ("--not-ready-after", f.notReadyAfter), ("--down-after", f.downAfter), ("--reschedule-margin", f.rescheduleMargin),
        ]
        switch f.role {
        case .worker:
            guard let join = f.join else {
                throw NodeConfigurationError("--join", "--role worker needs --join https://HOST:PORT (the controller's cluster port)")
            }
            for url in splitJoin(join) { try checkJoinURL(url) }
            guard f.listen == nil else {
                throw NodeConfigurationError("--listen", "--listen: a worker serves no API; it connects out to --join")
            }
            guard graceMs > renewEveryMs else {
                throw NodeConfigurationError(
                    "--lease-grace", "--lease-grace \(f.leaseGrace ?? "40s") must be longer than --lease-renew-every \(f.leaseRenewEvery)")
            }
            if let (flag, _) = controllerFlags.first(where: { $0.1 != nil }) {
                throw NodeConfigurationError(flag, "\(flag) is the controller's setting; a worker keeps to the controller's lease terms")
            }
        case .controller:
            if let socket = f.socket {
                guard f.listen == nil else {
                    throw NodeConfigurationError(
                        "--listen", "--listen: a controller with --socket listens on its socket only (the gateway serves the cluster port)")
                }
                try checkSocketPath(socket)
            }
            guard f.listen != nil || f.socket != nil else {
                throw NodeConfigurationError("--listen", "--role controller needs --listen HOST:PORT: workers connect to the cluster port")
            }
            let workerOnly: [(String, Bool)] = [
                ("--lease-grace", f.leaseGrace != nil), ("--cgroup-parent", f.cgroupParent != nil), ("--egress", f.egress),
                ("--label", !f.labels.isEmpty), ("--allow-unenforced-limits", f.allowUnenforcedLimits),
                ("--detect-root", f.detectRoot != nil), ("--drain-on-exit", f.drainOnExit),
                ("--log-cap", f.logCap != nil), ("--output-retention", f.outputRetention != nil),
                ("--insecure-registry", !f.insecureRegistries.isEmpty), ("--registry-ca", f.registryCA != nil),
                ("--registry-auth", f.registryAuth != nil), ("--local-images", !f.localImages.isEmpty),
            ]
            if let (flag, _) = workerOnly.first(where: { $0.1 }) {
                throw NodeConfigurationError(flag, "\(flag): a controller runs no agents (this flag is for workers and hybrid nodes)")
            }
            try checkNotJoining(f)
        case .hybrid:
            try checkNotJoining(f)
        }
        if f.socket != nil && f.role != .controller {
            throw NodeConfigurationError("--socket", "--socket is for a controller behind a gateway (aegis controller)")
        }
    }

    /// A unix socket path: absolute, within sun_path's 107 bytes, in an existing directory.
    static func checkSocketPath(_ path: String) throws {
        guard path.hasPrefix("/"), path.utf8.count <= 107 else {
            throw NodeConfigurationError("--socket", "--socket \(path): an absolute path of at most 107 bytes (a unix socket's limit)")
        }
        let dir = String(path[..<path.lastIndex(of: "/")!])
        var st = stat()
        guard stat(dir.isEmpty ? "/" : dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw NodeConfigurationError("--socket", "--socket \(path): its directory \(dir) does not exist")
        }
    }

    private static func checkNotJoining(_ f: NodeFlags) throws {
        let given = [("--join", f.join != nil), ("--token", f.token != nil), ("--token-file", f.tokenFile != nil), ("--rejoin", f.rejoin)]
        if let (flag, _) = given.first(where: { $0.1 }) {
            throw NodeConfigurationError(flag, "--join, --token, --token-file and --rejoin are for --role worker")
        }
        guard f.leaseGrace == nil else {
            throw NodeConfigurationError("--lease-grace", "--lease-grace is for --role worker (a hybrid node's agents need no lease)")
        }
    }

    /// The controller's lease timing: renew < not-ready < down, a reschedule margin of 1 s at least.
    static func leaseConfig(_ f: NodeFlags, renewEveryMs: Int) throws -> LeaseConfig {
        let margin = try duration(f.rescheduleMargin ?? "10s", "--reschedule-margin")
        guard margin >= 1000 else {
            throw NodeConfigurationError(
                "--reschedule-margin",
                "--reschedule-margin \(f.rescheduleMargin ?? ""): at least 1s "
                    + "(it covers clock rate differences and the supervisors' once-a-second lease check)")
        }
        let leases = LeaseConfig(
            renewEvery: .milliseconds(renewEveryMs),
            notReadyAfter: .milliseconds(try duration(f.notReadyAfter ?? "20s", "--not-ready-after")),
            downAfter: .milliseconds(try duration(f.downAfter ?? "40s", "--down-after")),
            rescheduleMargin: .milliseconds(margin))
        do { try leases.validate() } catch {
            let flag = ["renewEvery": "--lease-renew-every", "notReadyAfter": "--not-ready-after", "downAfter": "--down-after"][error.field]
            throw NodeConfigurationError(
                flag ?? "--lease-renew-every",
                "lease timing: \(error.message) (--lease-renew-every < --not-ready-after < --down-after)")
        }
        return leases
    }

    /// `--label KEY=VALUE` (repeatable) → a map.
    static func labels(_ given: [String]) throws -> [String: String] {
        var map: [String: String] = [:]
        for l in given {
            guard let eq = l.firstIndex(of: "="), eq != l.startIndex else {
                throw NodeConfigurationError("--label", "--label \(l): expected KEY=VALUE")
            }
            map[String(l[..<eq])] = String(l[l.index(after: eq)...])
        }
        return map
    }

    /// --log-cap in bytes (default `Worker.defaultLogCapBytes`): 4 KiB … 1 TiB.
    static func logCapBytes(_ text: String?) throws -> Int {
        guard let text else { return Worker.defaultLogCapBytes }
        let bytes: Int64
        do { bytes = try Quantity.memoryBytes(text, field: "--log-cap") } catch {
            throw NodeConfigurationError("--log-cap", error.description)
        }
        guard bytes >= Worker.minimumLogCapBytes, bytes <= 1 << 40 else {
            throw NodeConfigurationError("--log-cap", "--log-cap \(text): must be between \(Worker.minimumLogCapBytes) bytes (4Ki) and 1Ti")
        }
        return Int(bytes)
    }

    /// --output-retention in seconds: "90s", "30m", "12h", "7d" (the quantity grammar of
    /// durations), 1 s to 365 d; default `Worker.defaultOutputRetentionSeconds` (24 h).
    public static func parseOutputRetention(_ text: String?) throws -> Int64 {
        guard let text else { return Worker.defaultOutputRetentionSeconds }
        let ms: Int
        do {
            ms = try Quantity.durationMilliseconds(text, field: "--output-retention", maxMilliseconds: Bounds.maxTimeoutSeconds * 1000)
        } catch {
            throw NodeConfigurationError("--output-retention", error.description)
        }
        guard ms >= 1000 else { throw NodeConfigurationError("--output-retention", "--output-retention \(text): at least 1s") }
        return Int64(ms / 1000)
    }

    /// "500ms", "5s", "2m", "1h30m" (a bare number is seconds; the quantity grammar of manifests)
    /// → milliseconds, 1 ms (0 with `allowZero`) to `Bounds.maxLeaseDurationMs` (24 h).
    /// - Throws: `NodeConfigurationError` naming the flag and the range.
    public static func duration(_ text: String, _ flag: String, allowZero: Bool = false) throws -> Int {
        do { return try Quantity.durationMilliseconds(text, field: flag, allowZero: allowZero) } catch {
            throw NodeConfigurationError(flag, error.description)
        }
    }

    /// `--join`: https://HOST[:PORT] with a port in 1...65535 and nothing after but an optional "/".
    public static func checkJoinURL(_ url: String) throws {
        func refuse(_ why: String) -> NodeConfigurationError { NodeConfigurationError("--join", "--join \(url): \(why)") }
        guard url.hasPrefix("https://") else {
            throw refuse("expected https://HOST:PORT, the controller's cluster port (aegis up --listen)")
        }
        var authority = String(url.dropFirst("https://".count))
        while authority.hasSuffix("/") { authority.removeLast() }
        guard !authority.isEmpty, !authority.contains("/"), !authority.contains("@") else {
            throw refuse("expected https://HOST:PORT with no path")
        }
        let portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw refuse("unclosed [ in the IPv6 address") }
            let rest = authority[authority.index(after: close)...]
            portText = rest.isEmpty ? nil : (rest.hasPrefix(":") ? rest.dropFirst() : Substring("x"))
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, !parts[0].isEmpty else { throw refuse("expected https://HOST:PORT") }
            portText = parts.count == 2 ? parts[1] : nil
        }
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else { throw refuse("the port must be 1-65535") }
        }
    }

    /// `--listen` "HOST:PORT" → (host, port). IPv4, IPv6 in brackets, host names; port 0 = any free port.
    public static func parseListen(_ text: String) throws -> (host: String, port: Int) {
        do {
            let address = try ListenAddress(parsing: text)
            return (address.host, address.port)
        } catch { throw NodeConfigurationError("--listen", "--listen \(text): \(error.message)") }
    }
}
