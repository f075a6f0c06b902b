// Several nodes on one machine for the multi-node tests: each node in its own network namespace
// with its own address, all joined by a bridge that lives in a "switch" namespace the test also
// creates (nothing is added to the host's own network). A link is cut and healed on the switch
// side with `ip link set down|up`.
import Foundation
import XCTest

final class ClusterTestbed {
    let tag = String(UInt32.random(in: 0..<UInt32.max), radix: 16)
    let switchNS: String
    /// Node name → (network namespace, address).
    private(set) var nodes: [String: (ns: String, address: String)] = [:]

    /// - Parameter names: node names, given 192.0.2.1, .2, … in order (TEST-NET-1, only inside these namespaces).
    init(_ names: [String]) throws {
        try Testbed.available()
        switchNS = "aegc-s-\(tag)"
        try sh(["ip", "netns", "add", switchNS])
        try sh(["ip", "-n", switchNS, "link", "add", "br0", "type", "bridge"])
        try sh(["ip", "-n", switchNS, "link", "set", "br0", "up"])
        for (i, name) in names.enumerated() {
            let ns = "aegc-\(name)-\(tag)"
            let address = "192.0.2.\(i + 1)"
            try sh(["ip", "netns", "add", ns])
            try sh(["ip", "-n", ns, "link", "set", "lo", "up"])
            try sh(["ip", "-n", switchNS, "link", "add", "p-\(name)", "type", "veth", "peer", "name", "eth0", "netns", ns])
            try sh(["ip", "-n", switchNS, "link", "set", "p-\(name)", "master", "br0"])
            try sh(["ip", "-n", switchNS, "link", "set", "p-\(name)", "up"])
            try sh(["ip", "-n", ns, "addr", "add", "\(address)/24", "dev", "eth0"])
            try sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
            nodes[name] = (ns, address)
        }
    }

    func ns(_ name: String) -> String { nodes[name]!.ns }
    func address(_ name: String) -> String { nodes[name]!.address }

    /// Cuts the node's link (its switch port goes down; the node's own eth0 stays up, as when a
    /// cable or a switch fails).
    func cut(_ name: String) throws { try sh(["ip", "-n", switchNS, "link", "set", "p-\(name)", "down"]) }
    func heal(_ name: String) throws { try sh(["ip", "-n", switchNS, "link", "set", "p-\(name)", "up"]) }

    deinit {
        for (_, n) in nodes { _ = try? sh(["ip", "netns", "del", n.ns], allowFailure: true) }
        _ = try? sh(["ip", "netns", "del", switchNS], allowFailure: true)
    }
}

/// An `aegis up --role worker` process inside a node namespace.
final class WorkerProcess {
    let name: String
    let netns: String
    let dataDir: String
    let binary: String
    let cgroupParent: String
    private(set) var process: Process?

    init(name: String, netns: String) throws {
        self.name = name
        self.netns = netns
        var template = Array("/tmp/aegis-worker-e2e-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        dataDir = String(cString: p)
        chmod(dataDir, 0o711)
        binary = try NodeHarness.locate("aegis")
        cgroupParent = "aegis-e2e-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    var pid: Int32 { process?.processIdentifier ?? 0 }
    var isRunning: Bool { process?.isRunning ?? false }

    /// Starts the worker (the daemon is the process itself: nsenter execs it).
    func start(join: String, token: String?, extra: [String] = [], environment: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        p.arguments =
            [
                "--net=/run/netns/\(netns)", "--", binary, "up", "--role", "worker", "--name", name, "--data-dir", dataDir,
                "--join", join, "--cgroup-parent", cgroupParent, "--log-level", "info",
            ]
            + (token.map { ["--token", $0] } ?? []) + extra
        let logPath = dataDir + "/node.log"
        if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = FileHandle(forWritingAtPath: logPath)!
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        try p.run()
        process = p
    }

    func signal(_ sig: Int32) { if pid > 0 { kill(pid, sig) } }

    /// SIGTERM (agents keep running) and wait.
    func stop() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGCONT)
        p.terminate()
        p.waitUntilExit()
    }

    func waitExit(timeout: TimeInterval = 30) -> Int32? {
        guard let p = process else { return nil }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        return p.isRunning ? nil : p.terminationStatus
    }

    func log() -> String { (try? String(contentsOfFile: dataDir + "/node.log", encoding: .utf8)) ?? "" }

    /// Sandbox ids ("<workload>.g<generation>") this worker has on disk.
    func sandboxes() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dataDir + "/sandboxes")) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    deinit {
        if let p = process, p.isRunning { kill(p.processIdentifier, SIGCONT); kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        removeCgroupSubtree(cgroupParent)
        try? FileManager.default.removeItem(atPath: dataDir)
    }
}

/// Counts, every `intervalMs`, the processes whose command line is exactly `argv` (all workers
/// share this machine's pid namespace), and keeps the largest count seen.
final class CopySampler: @unchecked Sendable {
    private let lock = NSLock()
    private var maxSeen = 0
    private var samples = 0
    private var running = true
    private let argv: [String]
    private let thread: Thread?

    init(argv: [String], intervalMs: UInt32 = 50) {
        self.argv = argv
        let box = SamplerBox()
        thread = Thread {
            while let s = box.sampler, s.isRunning {
                let n = CopySampler.count(argv)
                s.record(n)
                usleep(intervalMs * 1000)
            }
        }
        box.sampler = self
        thread?.start()
    }

    private var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }
    private func record(_ n: Int) { lock.lock(); maxSeen = max(maxSeen, n); samples += 1; lock.unlock() }

    /// Stops sampling; returns (largest count, number of samples).
    func finish() -> (max: Int, samples: Int) {
        lock.lock(); running = false; let r = (maxSeen, samples); lock.unlock()
        usleep(100_000)
        return r
    }

    static func count(_ argv: [String]) -> Int {
        let want = Array(argv.joined(separator: "\0").utf8) + [0]
        var n = 0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where entry.first?.isNumber == true {
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), Array(data) == want else { continue }
            // A zombie keeps no cmdline, so a match is a live process; skip stopped-but-killed ones.
            n += 1
        }
        return n
    }
}

private final class SamplerBox: @unchecked Sendable {
    weak var sampler: CopySampler?
}
