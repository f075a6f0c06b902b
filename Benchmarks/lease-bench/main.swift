// lease-bench — lease renewals ingested by one controller through the real path: the cluster
// port's TLS listener, the WebSocket upgrade with client-certificate checks, the node protocol's
// JSON frames, the lease tracker, and the `renewed` acknowledgement back.
//
// It writes `--tracked` (50,000) nodes into a fresh controller store, so the controller tracks a
// lease for each, starts `aegis up --role controller --listen` (its cluster port is the gateway, in
// process) pinned to one CPU (taskset -c 0) — or with --pod the controller pod's shape, `aegis
// controller --socket` on CPU 0 and `aegis gateway` on CPU 1 — joins N node
// identities with `aegis node join`, opens one mutual-TLS session per identity from this process
// (pinned elsewhere by the caller), and keeps `--window` renewals in flight on each session for
// `--seconds`. Reported: acknowledged renewals per second (median of 1-second buckets and the
// total), and the controller's CPU time over the same interval (utime + stime from /proc).
//
// Phase 2 (detection): with --not-ready-after 2s --down-after 4s on a second controller, the
// sessions renew for 3 s and then go silent (their connections stay open); the controller's log
// gives each NotReady/Down transition's lateness past its deadline (counted from the last renewal).
import AegisProtocol
import AegisStore
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import Synchronization
import AegisSystem

struct Options {
    var aegis = ""
    var sessions = 50
    var seconds = 10
    var window = 32
    var controllerCPU = "0"
    var tracked = 50_000
    /// The controller pod's shape: `aegis controller --socket` and `aegis gateway` as two
    /// processes (pinned to --controller-cpu and --gateway-cpu) instead of `aegis up --listen`.
    var pod = false
    var gatewayCPU = "1"

    static func parse() -> Options {
        var o = Options()
        var args = CommandLine.arguments.dropFirst().makeIterator()
        while let a = args.next() {
            switch a {
            case "--aegis": o.aegis = args.next() ?? ""
            case "--sessions": o.sessions = Int(args.next() ?? "") ?? o.sessions
            case "--seconds": o.seconds = Int(args.next() ?? "") ?? o.seconds
            case "--window": o.window = Int(args.next() ?? "") ?? o.window
            case "--controller-cpu": o.controllerCPU = args.next() ?? "0"
            case "--tracked": o.tracked = Int(args.next() ?? "") ?? o.tracked
            case "--pod": o.pod = true
            case "--gateway-cpu": o.gatewayCPU = args.next() ?? "1"
            default:
                FileHandle.standardError.write(
                    Data(
                        "usage: lease-bench --aegis PATH [--sessions N] [--seconds S] [--window W] [--controller-cpu C] [--tracked NODES] [--pod [--gateway-cpu C]]\n"
                            .utf8))
                exit(2)
            }
        }
        if o.aegis.isEmpty {
            o.aegis = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("aegis").path
        }
        return o
    }
}

func run(_ argv: [String], env: [String: String] = [:]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    var e = ProcessInfo.processInfo.environment
    for (k, v) in env { e[k] = v }
    p.environment = e
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw NSError(
            domain: "lease-bench", code: Int(p.terminationStatus),
            userInfo: [NSLocalizedDescriptionKey: "\(argv.joined(separator: " ")): \(String(decoding: errData, as: UTF8.self))"])
    }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A controller process in its own data dir (with `pod`, the controller on its socket and a
/// separate gateway process in front of it).
final class ControllerProcess {
    let dir: String
    let process = Process()
    let gateway: Process?
    let aegis: String
    let pod: Bool
    private var gatewayPort = ""

    /// - Parameter tracked: nodes written into the controller's store before it starts; it tracks
    ///   a lease for each (as after a restart), so the renewals land in a tracker of that size.
    init(aegis: String, cpu: String, extra: [String], tracked: Int = 0, pod: Bool = false, gatewayCPU: String = "1") throws {
        self.aegis = aegis
        self.pod = pod
        dir = NSTemporaryDirectory() + "lease-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if tracked > 0 {
            struct NoTokens: TokenHasher { func hash(_ token: String) -> String { token } }
            let store = try ControlStore(path: dir + "/aegis.db", hasher: NoTokens())
            _ = try store.bootstrap()
            let caps = NodeCapabilities(cpuMillis: 4000, memoryBytes: 8 << 30)
            for i in 0..<tracked { _ = try store.upsertNode(NodeInfo(name: "sim-\(i)", role: .worker, capabilities: caps)) }
            try store.close()
        }
        FileManager.default.createFile(atPath: dir + "/controller.log", contents: nil)
        let log = FileHandle(forWritingAtPath: dir + "/controller.log")!
        process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        process.standardOutput = log
        process.standardError = log
        if pod {
            process.arguments =
                [
                    "-c", cpu, aegis, "controller", "--socket", dir + "/controller.sock", "--data-dir", dir, "--log-level", "warning",
                    "--name", "bench-ctl",
                ] + extra
            try process.run()
            for _ in 0..<300 where !FileManager.default.fileExists(atPath: dir + "/pki/ca.crt") { usleep(50_000) }
            gatewayPort = String(try freePort())
            let g = Process()
            g.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
            g.arguments = [
                "-c", gatewayCPU, aegis, "gateway", "--listen", "127.0.0.1:\(gatewayPort)", "--health-listen", "127.0.0.1:0",
                "--controller-socket", dir + "/controller.sock", "--pki-dir", dir + "/pki", "--log-level", "warning",
                "--rate", "100000", "--burst", "100000",
            ]
            g.standardOutput = FileHandle.nullDevice  // the access log
            g.standardError = log
            try g.run()
            gateway = g
            for _ in 0..<300 where (try? run([aegis, "health", "--socket", dir + "/controller.sock", "--path", "/readyz"])) == nil {
                usleep(50_000)
            }
            for _ in 0..<300 where !connects(Int(gatewayPort)!) { usleep(50_000) }
        } else {
            process.arguments =
                [
                    "-c", cpu, aegis, "up", "--role", "controller", "--data-dir", dir, "--api-port", "0",
                    "--listen", "127.0.0.1:0", "--log-level", "warning", "--name", "bench-ctl",
                ] + extra
            try process.run()
            gateway = nil
            for _ in 0..<300 where !FileManager.default.fileExists(atPath: dir + "/cluster.port") { usleep(50_000) }
        }
    }

    var port: String {
        if pod { return gatewayPort }
        return ((try? String(contentsOfFile: dir + "/cluster.port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The admin API: the node's aegis.sock, or the controller's socket in the pod shape.
    var adminServer: [String] { pod ? ["--server", "unix://" + dir + "/controller.sock"] : [] }

    /// utime + stime of the controller (and the gateway process), seconds.
    func cpuSeconds() -> Double { cpuSeconds(process.processIdentifier) + (gateway.map { cpuSeconds($0.processIdentifier) } ?? 0) }

    func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
    }

    /// Joins `n` identities (8 joins at a time) and returns their directories.
    func joinNodes(_ n: Int) throws -> [String] {
        let token = try run([aegis, "token", "create", "--role", "worker", "--data-dir", dir] + adminServer)
        let dirs = (0..<n).map { dir + "/node-\($0)" }
        let failures = Mutex<[String]>([])
        let aegis = aegis, port = port
        DispatchQueue.concurrentPerform(iterations: 8) { lane in
            for i in stride(from: lane, to: n, by: 8) {
                do {
                    _ = try run([
                        aegis, "node", "join", "--server", "https://127.0.0.1:\(port)", "--token", token,
                        "--name", "bench-\(i)", "--dir", dirs[i],
                    ])
                } catch { failures.withLock { $0.append("\(error)") } }
            }
        }
        if let f = failures.withLock({ $0.first }) { throw NSError(domain: "join", code: 1, userInfo: [NSLocalizedDescriptionKey: f]) }
        return dirs
    }

    func log() -> String { (try? String(contentsOfFile: dir + "/controller.log", encoding: .utf8)) ?? "" }

    func stop() {
        if let gateway {
            gateway.terminate()
            gateway.waitUntilExit()
        }
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// Acknowledged renewals per whole second since `start`.
final class Counter: Sendable {
    let buckets = Mutex<[Int: Int]>([:])
    let start = ContinuousClock.now
    func ack() {
        let s = Int((ContinuousClock.now - start).components.seconds)
        buckets.withLock { $0[s, default: 0] += 1 }
    }
}

/// One node's session: hello, wait for welcome, then keep `window` renewals in flight until
/// `stopAt` (later renewals stop; with `hold` the connection stays open until then).
func session(
    identity: String, name: String, port: String, window: Int, renewUntil: ContinuousClock.Instant,
    holdUntil: ContinuousClock.Instant, counter: Counter
) async throws {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(identity + "/node.crt").map { .certificate($0) }
    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: identity + "/node.key", format: .pem))
    tls.trustRoots = .file(identity + "/ca.crt")
    tls.certificateVerification = .noHostnameVerification
    let config = WebSocketClientConfiguration(maxFrameSize: 1 << 20, sniHostname: "aegis-controller")
    var logger = Logger(label: "lease-bench")
    logger.logLevel = .critical
    try await WebSocketClient.connect(
        url: "wss://127.0.0.1:\(port)\(NodeSession.path)", configuration: config,
        tlsConfiguration: tls, logger: logger
    ) { inbound, outbound, _ in
        let encoder = JSONEncoder()
        let hello = SessionMessage.hello(
            version: NodeSession.version,
            node: NodeInfo(name: name, role: .worker, capabilities: NodeCapabilities(cpuMillis: 1000, memoryBytes: 1 << 30)))
        try await outbound.write(.text(String(decoding: try encoder.encode(hello), as: UTF8.self)))
        var seq: UInt64 = 0
        var inFlight = 0
        func send() async throws {
            seq += 1
            inFlight += 1
            try await outbound.write(.text(#"{"type":"renew","seq":\#(seq)}"#))
        }
        for try await message in inbound.messages(maxSize: 1 << 20) {
            guard case .text(let text) = message else { continue }
            if text.contains(#""type":"welcome""#) {
                while inFlight < window { try await send() }
            } else if text.contains(#""type":"renewed""#) {
                counter.ack()
                inFlight -= 1
                if ContinuousClock.now < renewUntil {
                    try await send()
                } else if inFlight == 0 {
                    try await Task.sleep(until: holdUntil, clock: .continuous)
                    return
                }
            }
        }
    }
}

func runSessions(_ identities: [String], port: String, window: Int, renewFor: Duration, holdFor: Duration) async -> Counter {
    let counter = Counter()
    let renewUntil = ContinuousClock.now + renewFor, holdUntil = ContinuousClock.now + holdFor
    await withTaskGroup(of: Void.self) { group in
        for (i, dir) in identities.enumerated() {
            group.addTask {
                do {
                    try await session(
                        identity: dir, name: "bench-\(i)", port: port, window: window, renewUntil: renewUntil,
                        holdUntil: holdUntil, counter: counter)
                } catch { FileHandle.standardError.write(Data("session bench-\(i): \(error)\n".utf8)) }
            }
        }
    }
    return counter
}

/// A TCP port nothing listens on now (the kernel's pick for a socket bound to port 0).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else {
        throw NSError(domain: "lease-bench", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "bind: errno \(errno)"])
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func connects(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

let o = Options.parse()
print(
    "lease-bench: \(o.sessions) sessions, window \(o.window), \(o.seconds) s; "
        + (o.pod
            ? "pod shape: aegis controller on CPU \(o.controllerCPU), aegis gateway on CPU \(o.gatewayCPU)"
            : "aegis up --listen (in-process gateway) pinned to CPU \(o.controllerCPU)")
        + "; \(o.tracked) more nodes in its lease tracker"
)

// Phase 1: ingest.
let ctl = try ControllerProcess(
    aegis: o.aegis, cpu: o.controllerCPU, extra: ["--not-ready-after", "120s", "--down-after", "240s"],
    tracked: o.tracked, pod: o.pod, gatewayCPU: o.gatewayCPU)
let identities = try ctl.joinNodes(o.sessions)
let cpu0 = ctl.cpuSeconds()
let t0 = ContinuousClock.now
let counter = await runSessions(identities, port: ctl.port, window: o.window, renewFor: .seconds(o.seconds), holdFor: .seconds(o.seconds))
let wall = ContinuousClock.now - t0
let cpu = ctl.cpuSeconds() - cpu0
let buckets = counter.buckets.withLock { $0 }
let total = buckets.values.reduce(0, +)
// Whole seconds strictly inside the run (the first includes the handshakes, the last the drain).
let inner = buckets.filter { $0.key >= 1 && $0.key < o.seconds }.map { Double($0.value) }
let wallSeconds = wall.inSeconds
print(
    String(
        format: "ingest: %d renewals acknowledged in %.2f s = %.0f/s overall; median of 1-s buckets %.0f/s (min %.0f, max %.0f)",
        total, wallSeconds, Double(total) / wallSeconds, median(inner), inner.min() ?? 0, inner.max() ?? 0))
print(
    String(
        format: "controller%@ CPU: %.2f s over %.2f s wall = %.0f%% of one core; %.1f µs CPU per renewal", o.pod ? " + gateway" : "",
        cpu, wallSeconds, 100 * cpu / wallSeconds, 1e6 * cpu / Double(max(total, 1))))
ctl.stop()

// Phase 2: detection accuracy.
let ctl2 = try ControllerProcess(
    aegis: o.aegis, cpu: o.controllerCPU,
    extra: ["--lease-renew-every", "500ms", "--not-ready-after", "2s", "--down-after", "4s", "--reschedule-margin", "1s"],
    pod: o.pod, gatewayCPU: o.gatewayCPU)
let ids2 = try ctl2.joinNodes(min(o.sessions, 20))
_ = await runSessions(ids2, port: ctl2.port, window: 1, renewFor: .seconds(3), holdFor: .seconds(9))
var late: [String: [Double]] = ["NotReady": [], "Down": []]
for line in ctl2.log().split(separator: "\n") {
    for state in ["NotReady", "Down"] where line.hasSuffix("] node \(state)") {
        if let r = line.range(of: "late-ms="), let v = Double(line[r.upperBound...].prefix { $0 != " " }) { late[state]!.append(v) }
    }
}
for state in ["NotReady", "Down"] {
    let xs = late[state]!
    print(
        String(
            format: "detection %@: %d transitions, lateness past the deadline median %.1f ms, max %.1f ms",
            state, xs.count, median(xs), xs.max() ?? -1))
}
ctl2.stop()
