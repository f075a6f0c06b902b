// Bench.swift — in-process spawn benchmark: the path the worker daemon takes (one long-lived
// process, spec built once, compiled seccomp filter cached in memory). Each iteration runs
//   SandboxRuntime.create (spec → clone3 → mounts → pivot_root → caps → seccomp → execve of
//   /bin/true) → wait (process exit reaped by the supervisor, outcome.json written) → delete
// and times create+wait (the figure compared with bwrap's whole-process time) and delete
// separately, with CLOCK_MONOTONIC.
//
//   aegis-bench [--iterations N] [--warmup N] [--rootfs DIR] [--init] [--json FILE] [--phases]
//               [--state-parent DIR]   (state root: a fresh directory under DIR, default /tmp)
//
// Output: a text summary on stdout, then one JSON line (also written to --json FILE). Times in ms.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import AegisSandbox
import AegisSeccomp
import AegisSystem

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

struct Options {
    var iterations = 200
    var warmup = 20
    var rootfs: String?
    var useInit = false
    var jsonPath: String?
    var phases = false
    /// Parent of the temporary state root; a tmpfs (/dev/shm) matches /run on a usual host.
    var stateParent = "/tmp"
    /// Compare network egress with none (interleaved); run it inside a throwaway network namespace.
    var egress = false
    /// Compare a sandbox from an image (overlay root) with the host profile (interleaved).
    var image = false

    static func parse(_ args: [String]) throws -> Options {
        var o = Options()
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw BenchError(description: "\(args[i - 1]) needs a value") }
            return args[i]
        }
        func count(_ name: String) throws -> Int {
            let text = try value()
            guard let n = Int(text), n >= 0 else { throw BenchError(description: "\(name): \"\(text)\" is not a count") }
            return n
        }
        while i < args.count {
            switch args[i] {
            case "--iterations", "-n": o.iterations = max(1, try count("--iterations"))
            case "--warmup": o.warmup = try count("--warmup")
            case "--rootfs": o.rootfs = try value()
            case "--init": o.useInit = true
            case "--json": o.jsonPath = try value()
            case "--phases": o.phases = true
            case "--state-parent": o.stateParent = try value()
            case "--egress": o.egress = true
            case "--image": o.image = true
            case "--help", "-h":
                print(
                    "usage: aegis-bench [--iterations N (200)] [--warmup N (20)] [--rootfs DIR] [--init] [--json FILE] [--phases] [--state-parent DIR (/tmp)] [--egress] [--image]"
                )
                exit(0)
            default: throw BenchError(description: "unknown argument \"\(args[i])\" (see --help)")
            }
            i += 1
        }
        return o
    }
}

/// CLOCK_MONOTONIC in ns.
@inline(__always) func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func ms(_ ns: UInt64) -> Double { Double(ns) / 1_000_000 }

/// Median, p10, p90, mean, min, max of samples in ms (nearest-rank percentiles).
struct Stats: Codable {
    let median: Double, p10: Double, p90: Double, mean: Double, min: Double, max: Double, n: Int

    init(_ samples: [Double]) {
        let s = samples.sorted()
        func pct(_ p: Double) -> Double {
            guard !s.isEmpty else { return .nan }
            let rank = Int((p / 100 * Double(s.count)).rounded(.up))
            return s[Swift.max(0, Swift.min(s.count - 1, rank - 1))]
        }
        n = s.count
        median = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        p10 = pct(10); p90 = pct(90)
        mean = s.reduce(0, +) / Double(Swift.max(1, s.count))
        min = s.first ?? .nan; max = s.last ?? .nan
    }

    func line(_ name: String) -> String {
        func f(_ v: Double) -> String {
            let r = (v * 1000).rounded() / 1000
            let text = String(r)
            let parts = text.split(separator: ".")
            let frac = parts.count > 1 ? String(parts[1]) : ""
            return parts[0] + "." + frac + String(repeating: "0", count: Swift.max(0, 3 - frac.count))
        }
        let label = name + String(repeating: " ", count: Swift.max(0, 36 - name.count))
        return "\(label) median \(f(median))  p10 \(f(p10))  p90 \(f(p90))  mean \(f(mean))  min \(f(min))  max \(f(max)) ms"
    }
}

struct Report: Codable {
    let iterations: Int
    let warmup: Int
    let useInit: Bool
    let stateRoot: String
    /// create + wait: spec → execve of /bin/true → exit reaped and recorded.
    let createWait: Stats
    /// create alone: returns once the container process reached execve.
    let create: Stats
    /// wait alone: execve → exit reaped, outcome.json written by the supervisor.
    let wait: Stats
    let delete: Stats
    /// Optional one-off costs measured with --phases (ms, medians of 50 runs).
    var phases: [String: Stats]?
}

func copyFile(_ from: String, _ to: String, mode: mode_t) throws {
    let src = open(from, O_RDONLY | O_CLOEXEC)
    guard src >= 0 else { throw BenchError(description: "open \(from): \(Errno.current.explained)") }
    defer { close(src) }
    let dst = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard dst >= 0 else { throw BenchError(description: "open \(to): \(Errno.current.explained)") }
    defer { close(dst) }
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buf.withUnsafeMutableBytes { read(src, $0.baseAddress, $0.count) }
        if n == 0 { break }
        guard n > 0 else { throw BenchError(description: "read \(from): \(Errno.current.explained)") }
        guard buf.withUnsafeBytes({ write(dst, $0.baseAddress, n) }) == n else {
            throw BenchError(description: "write \(to): \(Errno.current.explained)")
        }
    }
}

/// A minimal busybox rootfs (same layout as Benchmarks/make-rootfs.sh) when --rootfs isn't given.
func makeRootfs(in dir: String) throws -> String {
    let root = dir + "/rootfs"
    for d in ["", "/bin", "/proc", "/dev", "/sys", "/tmp", "/etc"] { mkdir(root + d, 0o755) }
    try copyFile("/bin/busybox", root + "/bin/busybox", mode: 0o755)
    for applet in ["sh", "true", "false", "echo", "sleep", "cat", "ls"] { symlink("busybox", root + "/bin/" + applet) }
    return root
}

/// Times `body` `count` times (after 5 unmeasured runs).
func sample(_ count: Int, _ body: () throws -> Void) rethrows -> Stats {
    for _ in 0..<5 { try body() }
    var out: [Double] = []
    for _ in 0..<count {
        let t0 = now()
        try body()
        out.append(ms(now() - t0))
    }
    return Stats(out)
}

/// Costs the CLI pays per process and the daemon pays once: config.json parse, validation,
/// seccomp compilation (cold: what the caches save), the profile's JSON (disk-cache key).
func measurePhases(_ spec: Spec, bundle: String) throws -> [String: Stats] {
    let configBytes = try spec.jsonBytes(pretty: true)
    let profile = spec.linux?.seccomp ?? DefaultSeccompProfile.profile
    var phases: [String: Stats] = [:]
    phases["config.json parse"] = try sample(50) { _ = try Spec.decode(configBytes) }
    phases["spec.validate"] = try sample(50) { try spec.validate() }
    phases["seccomp compile (cold)"] = try sample(20) { _ = try SeccompCompiler.compile(profile) }
    phases["seccomp cache lookup"] = try sample(50) {
        _ = try SeccompProgramCache.shared.program(for: profile) { try SeccompCompiler.compile(profile) }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    phases["profile JSON encode"] = try sample(50) { _ = try encoder.encode(profile) }
    // aegis_spawn forks this process twice (intermediate, supervisor) before clone3: the cost of
    // one fork of this address space, the child exiting at once, reaped.
    phases["fork+_exit+waitpid of this process"] = sample(50) {
        let pid = fork()
        if pid == 0 { _exit(0) }
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
    return phases
}

func run() throws {
    let options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
    var template = Array((options.stateParent + "/aegis-bench.XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw BenchError(description: "mkdtemp: \(Errno.current.explained)") }
    let work = String(cString: made)
    defer { FileSystem.removeTree(work) }

    let rootfs: String
    if let given = options.rootfs {
        guard let real = realpath(given, nil) else { throw BenchError(description: "--rootfs \(given): \(Errno.current.explained)") }
        rootfs = String(cString: real)
        free(real)
    } else {
        rootfs = try makeRootfs(in: work)
    }
    guard access(rootfs + "/bin/true", X_OK) == 0 else { throw BenchError(description: "\(rootfs)/bin/true: not executable") }

    // Built once, as the worker daemon builds its profile once.
    let spec = DefaultBundleSpec.make(args: ["/bin/true"], rootfs: rootfs)
    let runtime = try SandboxRuntime(stateRoot: work + "/state", cgroupParent: nil)
    let stdio = SandboxStdio.descriptors(stdin: -1, stdout: -1, stderr: -1)
    let createOptions = SandboxCreateOptions(stdio: stdio, useInit: options.useInit, deferStart: false)
    if options.egress {
        try runEgress(options, runtime: runtime, spec: spec, work: work, createOptions: createOptions)
        return
    }
    if options.image {
        try runImage(options, runtime: runtime, work: work, imageRootfs: rootfs, createOptions: createOptions)
        return
    }

    var createWait: [Double] = [], create: [Double] = [], wait: [Double] = [], delete: [Double] = []
    for i in 0..<(options.warmup + options.iterations) {
        let id = "bench-\(i)"
        let t0 = now()
        try runtime.create(id: id, spec: spec, bundle: work, options: createOptions)
        let t1 = now()
        guard let outcome = try runtime.wait(id, timeout: .seconds(10)) else {
            throw BenchError(description: "\(id): no outcome after 10 s")
        }
        let t2 = now()
        try runtime.delete(id)
        let t3 = now()
        guard outcome.exitCode == 0, outcome.error == nil else {
            throw BenchError(
                description:
                    "\(id): /bin/true exited \(outcome.exitCode) (signal \(outcome.signal), error \(String(describing: outcome.error)))")
        }
        if i >= options.warmup {
            create.append(ms(t1 - t0)); wait.append(ms(t2 - t1))
            createWait.append(ms(t2 - t0)); delete.append(ms(t3 - t2))
        }
    }

    var report = Report(
        iterations: options.iterations, warmup: options.warmup, useInit: options.useInit,
        stateRoot: work + "/state", createWait: Stats(createWait), create: Stats(create), wait: Stats(wait),
        delete: Stats(delete), phases: nil)
    if options.phases { report.phases = try measurePhases(spec, bundle: work) }

    print(
        "aegis-bench: in-process spawn of /bin/true, \(options.iterations) iterations after \(options.warmup) warm-up\(options.useInit ? ", with init" : "")"
    )
    print(report.createWait.line("create+wait"))
    print(report.create.line("  create (→execve)"))
    print(report.wait.line("  wait (→reaped)"))
    print(report.delete.line("delete"))
    if let phases = report.phases {
        print("one-off phases (not in the loop above except the cache lookup):")
        for (name, s) in phases.sorted(by: { $0.key < $1.key }) { print(s.line("  " + name)) }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let json = String(decoding: try encoder.encode(report), as: UTF8.self)
    print(json)
    if let path = options.jsonPath {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError(description: "--json \(path): \(Errno.current.explained)") }
        _ = (json + "\n").withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }
}

@main struct Bench {
    static func main() {
        do { try run() } catch {
            let line = "aegis-bench: \(error)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            exit(1)
        }
    }
}
