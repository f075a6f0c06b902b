// Up.swift — `aegis up`: a hybrid node (controller + worker in one process) in the foreground,
// and `aegis down`, which asks the local node to stop its agents and exit.
import AegisAPI
import AegisClient
import AegisControl
import AegisMetrics
import AegisNet
import AegisNode
import AegisProtocol
import AegisScheduler

import AegisStore
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node in the foreground (default role hybrid: controller and worker in one process).",
        discussion: """
        SIGTERM or SIGINT stop it gracefully: it stops accepting work, flushes state and exits; running agents keep \
        running and are re-adopted on the next start. `aegis down` (or --drain-on-exit) stops the agents first.
        """)

    @Option(help: "Data directory (default /var/lib/aegis as root, $XDG_DATA_HOME/aegis otherwise; env AEGIS_DATA_DIR).")
    var dataDir: String?
    @Option(help: "Node role: hybrid (controller and worker in one process), controller (API, state, scheduling; runs no agents; needs --listen) or worker (runs agents for the controller given by --join; serves no API).")
    var role: NodeRole = .hybrid
    @Option(help: "Worker: the controller's cluster port, https://HOST:PORT.") var join: String?
    @Option(help: "Worker: join token for the first start (prefer --token-file or env AEGIS_JOIN_TOKEN: a command line is readable by every local user); later starts use the identity in <data-dir>/identity.")
    var token: String?
    @Option(help: "Worker: read the join token from this file (its first line).")
    var tokenFile: String?
    // Durations and ports are taken as values even with a leading '-', so that they get a range error.
    @Option(parsing: .unconditional, help: "Lease renewal period (worker: how often it renews; controller: sent to workers). Units ms, s, m; at most 24h.")
    var leaseRenewEvery: String = "5s"
    @Option(parsing: .unconditional, help: "Controller: a node is NotReady this long after its last lease renewal (default 20s).") var notReadyAfter: String?
    @Option(parsing: .unconditional, help: "Controller: a node is Down this long after its last lease renewal (default 40s).") var downAfter: String?
    @Option(parsing: .unconditional, help: "Controller: a Down node's agents are placed elsewhere this much later (default 10s; later still if the worker's grace is longer than --down-after).")
    var rescheduleMargin: String?
    @Option(parsing: .unconditional, help: "Worker: its agents are stopped by their own supervisors this long after the last acknowledged renewal (default 40s; keep it at most the controller's --down-after, or the controller waits for it before moving them).")
    var leaseGrace: String?
    @Flag(help: "Worker: join again with --token although <data-dir>/identity exists (keeps the node key; after `aegis node forget`).")
    var rejoin = false
    @Option(help: ArgumentHelp("Read /proc, /sys and /dev for capability detection below this directory (fixture trees).", visibility: .hidden))
    var detectRoot: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Controller: lifetime of issued node certificates (default 90 days; short values for renewal tests).", visibility: .hidden))
    var nodeCertValidity: String?
    @Option(help: "Node name (default: the host name).") var name: String?
    @Option(parsing: .unconditional, help: "TCP port of the API on 127.0.0.1, 0-65535 (0: any free port; the port is written to <data-dir>/api.port).")
    var apiPort: Int = 7420
    @Option(help: "Cluster port HOST:PORT: the API over TLS with a certificate from the cluster CA (<data-dir>/pki/ca.crt; clients use --ca-file). 0 as port: any free port, written to <data-dir>/cluster.port.")
    var listen: String?
    @Option(name: .customLong("label"), help: "Operator label KEY=VALUE advertised as a capability (repeatable).")
    var labels: [String] = []
    @Flag(help: "Accept limits this host can't enforce (no memory/cpu/pids cgroup controller); they are shown as not enforced.")
    var allowUnenforcedLimits = false
    @Flag(help: "On SIGTERM/SIGINT, stop every agent first and record its final state.") var drainOnExit = false
    @Option(help: "cgroup2 path (relative to the hierarchy root) under which sandboxes get their leaves (default: aegis/ under the node's own cgroup).")
    var cgroupParent: String?
    @Flag(help: "Enable network mode egress: bridge, source NAT out of the host's uplink, nftables policy (table inet/bridge aegis). Sets net.ipv4.ip_forward=1.")
    var egress = false
    @Option(help: "IPv4 subnet for egress sandboxes (default: the first of 10.213.0.0/16, 172.29.0.0/16, 192.168.213.0/24 that overlaps no host route).")
    var egressSubnet: String?
    @Option(help: "Bridge of egress sandboxes (default aegis0); an existing interface must be a bridge.") var egressBridge: String?
    @Option(name: .customLong("egress-deny"), help: "A network egress agents may never reach, like the node's own addresses: its public (1:1 NAT) address, other nodes, management networks (CIDR, repeatable).")
    var egressDeny: [String] = []
    @Option(name: .customLong("reach"), help: "Reachability label advertised with egress, e.g. internet or corp-vpn (repeatable).")
    var reach: [String] = []
    @Option(help: "Scheduling strategy: binpack or spread.") var strategy: String = "binpack"
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "info"
    @Option(help: "Worker: each agent's stdout and stderr history is kept at most this long, the oldest output dropped behind a marker line (default 16Mi; at least 4Ki).")
    var logCap: String?
    @Option(help: "Worker: how long an ended agent's logs and outputs stay on the node for `aegis logs` and `aegis cp` (default 24h; 1s to 365d, e.g. 90s, 30m, 12h).")
    var outputRetention: String?

    func validate() throws {
        try checkFlagRange(apiPort, Bounds.ports, flag: "--api-port", note: " (0: any free port)")
    }

    func run() async throws {
        let renewEvery = try Self.duration(leaseRenewEvery, "--lease-renew-every")
        let grace = try Self.duration(leaseGrace ?? "40s", "--lease-grace")
        let controllerFlags = [("--not-ready-after", notReadyAfter), ("--down-after", downAfter), ("--reschedule-margin", rescheduleMargin)]
        switch role {
        case .worker:
            guard let join else { throw ValidationError("--role worker needs --join https://HOST:PORT (the controller's cluster port)") }
            try Self.checkJoinURL(join)
            guard listen == nil else { throw ValidationError("--listen: a worker serves no API; it connects out to --join") }
            guard grace > renewEvery else { throw ValidationError("--lease-grace \(leaseGrace ?? "40s") must be longer than --lease-renew-every \(leaseRenewEvery)") }
            if let (flag, _) = controllerFlags.first(where: { $0.1 != nil }) {
                throw ValidationError("\(flag) is the controller's setting; a worker keeps to the controller's lease terms")
            }
        case .controller:
            guard listen != nil else { throw ValidationError("--role controller needs --listen HOST:PORT: workers connect to the cluster port") }
            let workerOnly: [(String, Bool)] = [("--lease-grace", leaseGrace != nil), ("--cgroup-parent", cgroupParent != nil), ("--egress", egress),
                                                ("--label", !labels.isEmpty), ("--allow-unenforced-limits", allowUnenforcedLimits),
                                                ("--detect-root", detectRoot != nil), ("--drain-on-exit", drainOnExit),
                                                ("--log-cap", logCap != nil), ("--output-retention", outputRetention != nil)]
            if let (flag, _) = workerOnly.first(where: { $0.1 }) {
                throw ValidationError("\(flag): a controller runs no agents (this flag is for workers and hybrid nodes)")
            }
            fallthrough
        case .hybrid:
            guard join == nil, token == nil, tokenFile == nil, !rejoin else {
                throw ValidationError("--join, --token, --token-file and --rejoin are for --role worker")
            }
            guard leaseGrace == nil else { throw ValidationError("--lease-grace is for --role worker (a hybrid node's agents need no lease)") }
        }
        let logCapBytes = try Self.logCapBytes(logCap)
        let retention = try Self.outputRetentionSeconds(outputRetention)
        let margin = try Self.duration(rescheduleMargin ?? "10s", "--reschedule-margin")
        guard margin >= 1000 else {
            throw ValidationError("--reschedule-margin \(rescheduleMargin ?? ""): at least 1s (it covers clock rate differences and the supervisors' once-a-second lease check)")
        }
        let leases = LeaseConfig(renewEvery: .milliseconds(renewEvery),
                                 notReadyAfter: .milliseconds(try Self.duration(notReadyAfter ?? "20s", "--not-ready-after")),
                                 downAfter: .milliseconds(try Self.duration(downAfter ?? "40s", "--down-after")),
                                 rescheduleMargin: .milliseconds(margin))
        do { try leases.validate() } catch { throw ValidationError("lease timing: \(error.message) (--lease-renew-every < --not-ready-after < --down-after)") }
        guard let scoring = ScoringStrategy(rawValue: strategy) else { throw ValidationError("--strategy: binpack or spread") }
        var labelMap: [String: String] = [:]
        for l in labels {
            guard let eq = l.firstIndex(of: "="), eq != l.startIndex else { throw ValidationError("--label \(l): expected KEY=VALUE") }
            labelMap[String(l[..<eq])] = String(l[l.index(after: eq)...])
        }
        var egressConfig: EgressConfig?
        let dir = dataDir ?? AegisPaths.defaultDataDir()
        if egress {
            var subnet: IPv4Network?
            if let text = egressSubnet {
                guard let n = IPv4Network(text), n.prefix <= 30 else {
                    throw ValidationError("--egress-subnet \(text): expected an IPv4 CIDR with zero host bits, /30 or wider (e.g. 10.213.0.0/16)")
                }
                if let d = SpecialAddresses.alwaysDenied.first(where: { $0.network.overlaps(n) }) {
                    throw ValidationError("--egress-subnet \(text): overlaps \(d.network), \(d.name); choose a private range such as 10.213.0.0/16")
                }
                subnet = n
            }
            let bridge = egressBridge ?? "aegis0"
            guard EgressConfig.validInterfaceName(bridge) else {
                throw ValidationError("--egress-bridge \(bridge): an interface name of 1-15 letters, digits, '-', '_' or '.'")
            }
            for r in reach where !Self.validReachLabel(r) {
                throw ValidationError("--reach \(r): 1-63 of lower-case letters, digits, '-' and '.', starting and ending with a letter or digit")
            }
            var denied: [IPv4Network] = []
            for d in egressDeny {
                guard let n = IPv4Network(d) else { throw ValidationError("--egress-deny \(d): expected an IPv4 address or CIDR with zero host bits") }
                denied.append(n)
            }
            egressConfig = EgressConfig(bridge: bridge, subnet: subnet, reach: reach, stateDir: dir + "/network", denied: denied)
        } else if egressSubnet != nil || !reach.isEmpty || egressBridge != nil || !egressDeny.isEmpty {
            throw ValidationError("--egress-subnet, --egress-bridge, --egress-deny and --reach need --egress")
        }
        let listenAddress = try listen.map { try ClusterListener.parse($0) }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "aegis.node")
        let nodeName = name ?? ProcessInfo.processInfo.hostName.lowercased()
        if role == .worker, let join {
            let worker = try await WorkerRuntime.start(
                paths: AegisPaths(dataDir: dir), name: nodeName, join: join,
                token: try JoinTokenInput.resolve(flag: token, file: tokenFile), rejoin: rejoin, labels: labelMap,
                allowUnenforcedLimits: allowUnenforcedLimits, cgroupParent: cgroupParent, egress: egressConfig,
                leaseGraceMs: grace, renewEveryMs: renewEvery, detectRoot: detectRoot, logCapBytes: logCapBytes,
                outputRetentionSeconds: retention, logger: logger)
            await worker.run()
            return
        }
        let node: NodeRuntime
        do {
            node = try await NodeRuntime.start(
                role: role, paths: AegisPaths(dataDir: dir), name: nodeName, apiPort: apiPort, labels: labelMap,
                allowUnenforcedLimits: allowUnenforcedLimits, cgroupParent: cgroupParent, egress: egressConfig,
                scheduler: SchedulerConfig(strategy: scoring), leases: leases, detectRoot: detectRoot,
                nodeCertificateValidity: try nodeCertValidity.map { Double(try Self.duration($0, "--node-cert-validity")) / 1000 },
                logCapBytes: logCapBytes, outputRetentionSeconds: retention, logger: logger)
        } catch {
            NodeSetup.releaseDataDir(AegisPaths(dataDir: dir))
            throw error
        }
        do {
            try await node.run(drainOnExit: drainOnExit, listen: listenAddress)
        } catch {
            NodeSetup.releaseDataDir(AegisPaths(dataDir: dir))  // e.g. the API port is taken: no stale pid file
            throw error
        }
    }
}

extension Up {
    /// --log-cap in bytes (default `Worker.defaultLogCapBytes`).
    static func logCapBytes(_ text: String?) throws -> Int {
        guard let text else { return Worker.defaultLogCapBytes }
        let bytes: Int64
        do { bytes = try Quantity.memoryBytes(text, field: "--log-cap") } catch { throw ValidationError(error.description) }
        guard bytes >= Worker.minimumLogCapBytes, bytes <= 1 << 40 else {
            throw ValidationError("--log-cap \(text): must be between \(Worker.minimumLogCapBytes) bytes (4Ki) and 1Ti")
        }
        return Int(bytes)
    }

    /// --output-retention in seconds: "90s", "30m", "12h", "7d" (the quantity grammar of
    /// durations), 1 s to 365 d; default `Worker.defaultOutputRetentionSeconds` (24 h).
    static func outputRetentionSeconds(_ text: String?) throws -> Int64 {
        guard let text else { return Worker.defaultOutputRetentionSeconds }
        let ms: Int
        do { ms = try Quantity.durationMilliseconds(text, field: "--output-retention", maxMilliseconds: Bounds.maxTimeoutSeconds * 1000) } catch {
            throw ValidationError(error.description)
        }
        guard ms >= 1000 else { throw ValidationError("--output-retention \(text): at least 1s") }
        return Int64(ms / 1000)
    }

    /// "500ms", "5s", "2m", "1h30m" (a bare number is seconds; the quantity grammar of manifests)
    /// → milliseconds, at most `Bounds.maxLeaseDurationMs` (24 h).
    /// - Throws: `ValidationError` naming the flag and the range.
    static func duration(_ text: String, _ flag: String, allowZero: Bool = false) throws -> Int {
        do { return try Quantity.durationMilliseconds(text, field: flag, allowZero: allowZero) } catch {
            throw ValidationError(error.description)
        }
    }

    /// `--join`: https://HOST[:PORT] with a port in 1...65535 and nothing after but an optional "/".
    static func checkJoinURL(_ url: String) throws {
        guard url.hasPrefix("https://") else {
            throw ValidationError("--join \(url): expected https://HOST:PORT, the controller's cluster port (aegis up --listen)")
        }
        var authority = String(url.dropFirst("https://".count))
        while authority.hasSuffix("/") { authority.removeLast() }
        guard !authority.isEmpty, !authority.contains("/"), !authority.contains("@") else {
            throw ValidationError("--join \(url): expected https://HOST:PORT with no path")
        }
        let portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw ValidationError("--join \(url): unclosed [ in the IPv6 address") }
            let rest = authority[authority.index(after: close)...]
            portText = rest.isEmpty ? nil : (rest.hasPrefix(":") ? rest.dropFirst() : Substring("x"))
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, !parts[0].isEmpty else { throw ValidationError("--join \(url): expected https://HOST:PORT") }
            portText = parts.count == 2 ? parts[1] : nil
        }
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw ValidationError("--join \(url): the port must be 1-65535")
            }
        }
    }

    /// Reach labels as manifests accept them: 1-63 of [a-z0-9.-], alphanumeric at both ends.
    static func validReachLabel(_ r: String) -> Bool {
        guard (1...63).contains(r.count), let f = r.first, let l = r.last,
              f.isASCII && (f.isLowercase || f.isNumber), l.isASCII && (l.isLowercase || l.isNumber) else { return false }
        return r.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }
    }
}

extension NodeRole: ExpressibleByArgument {}

struct Down: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop the local node: its agents are stopped first and their final states recorded.")
    @Option(help: "Data directory of the node (default as for `aegis up`).") var dataDir: String?
    @Flag(help: "Leave the agents running (they are re-adopted by the next `aegis up`).") var keepAgents = false
    @Option(parsing: .unconditional, help: "Seconds to wait for the node to exit (1-86400).") var timeout: Int = 60

    func validate() throws { try checkFlagRange(timeout, 1...86_400, flag: "--timeout") }

    func run() async throws { try await runVerb { try stop() } }

    func stop() throws {
        let paths = AegisPaths(dataDir: dataDir ?? AegisPaths.defaultDataDir())
        guard let text = try? String(contentsOfFile: paths.pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, 0) == 0 else {
            throw NodeStartError("no node running for \(paths.dataDir) (no live pid in \(paths.pidFile))")
        }
        // SIGUSR2: drain (stop agents, record their states), then exit. SIGTERM: exit, agents keep running.
        kill(pid, keepAgents ? SIGTERM : SIGUSR2)
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        while kill(pid, 0) == 0 {
            if Date() > deadline { throw NodeStartError("node \(pid) still running after \(timeout) s") }
            usleep(50_000)
        }
        print("node \(pid) stopped" + (keepAgents ? "; agents keep running" : "; agents stopped"))
    }
}
