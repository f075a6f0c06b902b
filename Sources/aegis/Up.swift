// Up.swift — `aegis up`: a hybrid node (controller + worker in one process) in the foreground,
// and `aegis down`, which asks the local node to stop its agents and exit.
import AegisClient
import AegisDaemon
import AegisNodeLink
import AegisProtocol
import AegisSystem
import ArgumentParser
import Foundation
import Logging

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node in the foreground (default role hybrid: controller and worker in one process).",
        discussion: """
            SIGTERM or SIGINT stop it gracefully: it stops accepting work, flushes state and exits; running agents keep \
            running and are re-adopted on the next start. `aegis down` (or --drain-on-exit) stops the agents first.
            """)

    @Option(help: "Data directory (default /var/lib/aegis as root, $XDG_DATA_HOME/aegis otherwise; env AEGIS_DATA_DIR).")
    var dataDir: String?
    @Option(
        help:
            "Node role: hybrid (controller and worker in one process), controller (API, state, scheduling; runs no agents; needs --listen) or worker (runs agents for the controller given by --join; serves no API)."
    )
    var role: NodeRole = .hybrid
    @Option(
        help:
            "Worker: the controller's cluster port, https://HOST:PORT; replicated controllers: each one's, comma-separated (the session finds the leader)."
    )
    var join: String?
    @Option(
        help:
            "Worker: join token for the first start (prefer --token-file or env AEGIS_JOIN_TOKEN: a command line is readable by every local user); later starts use the identity in <data-dir>/identity."
    )
    var token: String?
    @Option(help: "Worker: read the join token from this file (its first line).")
    var tokenFile: String?
    // Durations and ports are taken as values even with a leading '-', so that they get a range error.
    @Option(
        parsing: .unconditional,
        help: "Lease renewal period (worker: how often it renews; controller: sent to workers). Units ms, s, m; at most 24h.")
    var leaseRenewEvery: String = "5s"
    @Option(parsing: .unconditional, help: "Controller: a node is NotReady this long after its last lease renewal (default 20s).")
    var notReadyAfter: String?
    @Option(parsing: .unconditional, help: "Controller: a node is Down this long after its last lease renewal (default 40s).")
    var downAfter: String?
    @Option(
        parsing: .unconditional,
        help:
            "Controller: a Down node's agents are placed elsewhere this much later (default 10s; later still if the worker's grace is longer than --down-after)."
    )
    var rescheduleMargin: String?
    @Option(
        parsing: .unconditional,
        help:
            "Worker: its agents are stopped by their own supervisors this long after the last acknowledged renewal (default 40s; keep it at most the controller's --down-after, or the controller waits for it before moving them)."
    )
    var leaseGrace: String?
    @Flag(
        inversion: .prefixedNo,
        help: "Worker: join again with --token although <data-dir>/identity exists (keeps the node key; after `aegis node forget`).")
    var rejoin = false
    @Option(
        help: ArgumentHelp("Read /proc, /sys and /dev for capability detection below this directory (fixture trees).", visibility: .hidden))
    var detectRoot: String?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Controller: lifetime of issued node certificates (default 90 days; short values for renewal tests).", visibility: .hidden))
    var nodeCertValidity: String?
    @Option(help: "Node name (default: the host name).") var name: String?
    @Option(
        parsing: .unconditional,
        help: "TCP port of the API on 127.0.0.1, 0-65535 (0: any free port; the port is written to <data-dir>/api.port).")
    var apiPort: Int = 7420
    @Option(
        help:
            "Cluster port HOST:PORT: the API over TLS with a certificate from the cluster CA (<data-dir>/pki/ca.crt; clients use --ca-file). 0 as port: any free port, written to <data-dir>/cluster.port."
    )
    var listen: String?
    @Option(name: .customLong("label"), help: "Operator label KEY=VALUE advertised as a capability (repeatable).")
    var labels: [String] = []
    @Flag(
        inversion: .prefixedNo,
        help: "Accept limits this host can't enforce (no memory/cpu/pids cgroup controller); they are shown as not enforced.")
    var allowUnenforcedLimits = false
    @Flag(inversion: .prefixedNo, help: "On SIGTERM/SIGINT, stop every agent first and record its final state.") var drainOnExit = false
    @Option(
        help:
            "cgroup2 path (relative to the hierarchy root) under which sandboxes get their leaves (default: aegis/ under the node's own cgroup)."
    )
    var cgroupParent: String?
    @Flag(
        inversion: .prefixedNo,
        help:
            "Enable network mode egress: bridge, source NAT out of the host's uplink, nftables policy (table inet/bridge aegis). Sets net.ipv4.ip_forward=1."
    )
    var egress = false
    @Option(
        help:
            "IPv4 subnet for egress sandboxes (default: the first of 10.213.0.0/16, 172.29.0.0/16, 192.168.213.0/24 that overlaps no host route)."
    )
    var egressSubnet: String?
    @Option(help: "Bridge of egress sandboxes (default aegis0); an existing interface must be a bridge.") var egressBridge: String?
    @Option(
        name: .customLong("egress-deny"),
        help:
            "A network egress agents may never reach, like the node's own addresses: its public (1:1 NAT) address, other nodes, management networks (CIDR, repeatable)."
    )
    var egressDeny: [String] = []
    @Option(name: .customLong("reach"), help: "Reachability label advertised with egress, e.g. internet or corp-vpn (repeatable).")
    var reach: [String] = []
    @Option(help: "Scheduling strategy: binpack or spread.") var strategy: String = "binpack"
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "info"
    @Option(
        help:
            "Worker: each agent's stdout and stderr history is kept at most this long, the oldest output dropped behind a marker line (default 16Mi; at least 4Ki)."
    )
    var logCap: String?
    @Option(
        help:
            "Worker: how long an ended agent's logs and outputs stay on the node for `aegis logs` and `aegis cp` (default 24h; 1s to 365d, e.g. 90s, 30m, 12h)."
    )
    var outputRetention: String?
    @Option(help: ArgumentHelp("Worker: speak plain HTTP to this image registry HOST[:PORT] (repeatable).", valueName: "host"))
    var insecureRegistry: [String] = []
    @Option(help: ArgumentHelp("Worker: trust this CA (PEM) for HTTPS image registries, besides the system's.", valueName: "file"))
    var registryCa: String?
    @Option(help: ArgumentHelp("Worker: registry credentials, a docker-style auth.json.", valueName: "file"))
    var registryAuth: String?
    @Option(
        help: ArgumentHelp(
            "Worker: workloads may name oci:/oci-archive: images only beneath this directory (repeatable; default none).",
            valueName: "dir"))
    var localImages: [String] = []
    @Option(
        help: ArgumentHelp(
            "Worker: when the image store's file system is this full (percent), unused images are removed, oldest first…",
            valueName: "pct"))
    var imageGcHighThreshold: Int = 85
    @Option(help: ArgumentHelp("…until it is below this (percent).", valueName: "pct"))
    var imageGcLowThreshold: Int = 80
    @Option(
        help: ArgumentHelp(
            "Controller: where the state lives: sqlite (<data-dir>/aegis.db, the default) or postgres://USER@HOST:PORT/DATABASE?sslmode=… (several controllers on one database, one leader; --role controller).",
            valueName: "url"))
    var datastore: String?
    @Option(help: ArgumentHelp("Controller on PostgreSQL: read the database password from this file (else PGPASSWORD).", valueName: "file"))
    var datastorePasswordFile: String?
    @Option(
        parsing: .unconditional,
        help:
            "Controller on PostgreSQL: the leader lease term, by the database's clock (default 15s; a standby takes over this long after the leader's last renewal)."
    )
    var leaderLease: String?
    @Option(
        parsing: .unconditional,
        help: "Controller on PostgreSQL: how often the leader renews its lease (default 5s; at most a third of --leader-lease).")
    var leaderRenew: String?
    @Option(
        help: ArgumentHelp(
            "A YAML file whose keys are these flags' names (default \(NodeConfigFile.defaultPath) when it exists); flags given here override it.",
            valueName: "file"))
    var config: String?

    func validate() throws {
        do { try NodeConfiguration.checkAPIPort(apiPort) } catch { throw ValidationError("\(error)") }
    }

    /// The flags as typed, for NodeConfiguration to check.
    var flags: NodeFlags {
        var f = NodeFlags()
        f.dataDir = dataDir
        f.role = role
        f.join = join
        f.token = token
        f.tokenFile = tokenFile
        f.leaseRenewEvery = leaseRenewEvery
        f.notReadyAfter = notReadyAfter
        f.downAfter = downAfter
        f.rescheduleMargin = rescheduleMargin
        f.leaseGrace = leaseGrace
        f.rejoin = rejoin
        f.detectRoot = detectRoot
        f.nodeCertValidity = nodeCertValidity
        f.name = name
        f.apiPort = apiPort
        f.listen = listen
        f.labels = labels
        f.allowUnenforcedLimits = allowUnenforcedLimits
        f.drainOnExit = drainOnExit
        f.cgroupParent = cgroupParent
        f.egress = egress
        f.egressSubnet = egressSubnet
        f.egressBridge = egressBridge
        f.egressDeny = egressDeny
        f.reach = reach
        f.strategy = strategy
        f.logLevel = logLevel
        f.logCap = logCap
        f.outputRetention = outputRetention
        f.insecureRegistries = insecureRegistry
        f.registryCA = registryCa
        f.registryAuth = registryAuth
        f.localImages = localImages
        f.imageGCHighThreshold = imageGcHighThreshold
        f.imageGCLowThreshold = imageGcLowThreshold
        f.datastore = datastore
        f.datastorePasswordFile = datastorePasswordFile
        f.leaderLease = leaderLease
        f.leaderRenew = leaderRenew
        return f
    }

    /// The arguments after `up` on this process's command line.
    static var ownArguments: [String] {
        let all = Array(CommandLine.arguments.dropFirst())
        return all.firstIndex(of: "up").map { Array(all[($0 + 1)...]) } ?? all
    }

    func run() async throws {
        ServerThreads.configure(eventLoopExecutor: false)
        let notice = NodeStartNotice()  // before anything starts a process that could inherit $NOTIFY_SOCKET
        let exists = FileManager.default.fileExists(atPath: NodeConfigFile.defaultPath)
        guard let path = config ?? (exists ? NodeConfigFile.defaultPath : nil) else {
            return try await runNode(notice: notice, configFile: nil)
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("--config \(path): cannot read it (\(SystemError("open", path, code: errno)))")
        }
        let own = Self.ownArguments
        let file: (arguments: [String], lines: [String: Int])
        do { file = try NodeConfigFile.arguments(yaml: text, file: path, commandLine: own) } catch {
            throw ValidationError(error.description)
        }
        let merged: Up
        do { merged = try Up.parse(file.arguments + own) } catch {
            throw ValidationError("\(Up.message(for: error)) (with the settings of \(path) before the command line's)")
        }
        try await merged.runNode(notice: notice, configFile: (path, file.lines.filter { flag, _ in !own.contains(flag) }))
    }

    /// Runs the node with these flags; `configFile` names where each flag the file set came from,
    /// for the errors.
    func runNode(notice: NodeStartNotice, configFile: (path: String, lines: [String: Int])?) async throws {
        let configuration: NodeConfiguration
        do { configuration = try NodeConfiguration(flags) } catch let e as NodeConfigurationError {
            if let configFile, let line = configFile.lines[e.flag] { throw ValidationError("\(e.message) (\(configFile.path):\(line))") }
            throw ValidationError(e.message)
        }
        if role == .worker, token != nil, Self.ownArguments.contains(where: { $0 == "--token" || $0.hasPrefix("--token=") }) {
            writeStderr(JoinTokenInput.commandLineWarning)
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "aegis.node")
        if configuration.role == .worker {
            notice.step("joining or loading the node identity, detecting capabilities")
            let worker = try await WorkerRuntime.start(configuration, logger: logger)
            notice.step("connecting to the controller, re-adopting agents")
            do { try await worker.run(notifier: notice.notifier) } catch let e as SessionError {
                writeStderr("aegis: \(e)\n")
                throw ExitCode(1)
            }
            return
        }
        if configuration.datastore.isReplicated {
            notice.step("opening the datastore")
            let controller = try await ReplicatedController.start(configuration, logger: logger)
            try await controller.run(notifier: notice.notifier)
            return
        }
        notice.step("opening the state" + (configuration.role == .hybrid ? ", re-adopting agents" : ""))
        let node = try await NodeRuntime.start(configuration, logger: logger)
        if node.adminTokenWritten { print("aegis: admin token written to \(configuration.paths.adminToken)") }
        notice.step("starting the API listeners")
        try await node.run(notifier: notice.notifier)
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
        let pid = try NodeControl.stop(paths: paths, keepAgents: keepAgents, timeout: .seconds(timeout))
        print("node \(pid) stopped" + (keepAgents ? "; agents keep running" : "; agents stopped"))
    }
}
