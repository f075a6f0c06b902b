#if canImport(Glibc)
import Glibc
#endif

/// One sandbox's leaf cgroup: membership, kill, freeze, removal and statistics.
///
/// Interface files: kernel Documentation/admin-guide/cgroup-v2.rst ("Core Interface Files":
/// cgroup.procs, cgroup.events, cgroup.freeze, cgroup.kill; controller sections for the stats).
public struct SandboxCgroup: Sendable {
    /// Absolute path of the leaf directory.
    public let path: String
    let fs: any CgroupFileSystem
    let busyRetry: BusyRetry

    init(path: String, fileSystem: any CgroupFileSystem, busyRetry: BusyRetry) {
        self.path = path
        self.fs = fileSystem
        self.busyRetry = busyRetry
    }

    /// The leaf's directory name (the sandbox id).
    public var id: String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// `<path>/cgroup.procs`: writing a pid moves that process (fallback when CLONE_INTO_CGROUP is
    /// unavailable).
    public var procsPath: String { path + "/cgroup.procs" }

    /// Whether the directory still exists.
    public var exists: Bool { fs.exists(path) }

    /// Opens the leaf directory with O_RDONLY | O_DIRECTORY | O_CLOEXEC, for `clone3`'s
    /// `cgroup` field with CLONE_INTO_CGROUP (Linux ≥ 5.7). The caller closes the descriptor.
    /// - Throws: `.syscall` naming the path and errno.
    public func openDirectoryFD() throws(CgroupError) -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw CgroupError.syscall("open", path, errno: errno) }
        return fd
    }

    /// Processes (thread-group ids) currently in the leaf.
    public func pids() throws(CgroupError) -> [Int32] {
        parsePids(try fs.read(procsPath))
    }

    // MARK: - kill / wait / remove

    /// SIGKILLs every process in the leaf: writes "1" to `cgroup.kill` (Linux ≥ 5.14). If the file
    /// does not exist, falls back to freezing the leaf (when `cgroup.freeze` exists, so nothing can
    /// fork meanwhile), `kill(pid, SIGKILL)` for every pid in `cgroup.procs`, repeated until the file
    /// lists none, then thawing. Does not wait for the processes to be gone (see `waitEmpty`).
    /// - Throws: `.syscall` (write/read errors), `.timeout` when the fallback cannot empty the leaf
    ///   within `fallbackTimeout`.
    public func kill(fallbackTimeout: Duration = .seconds(5)) throws(CgroupError) {
        do {
            try fs.write(path + "/cgroup.kill", "1")
            return
        } catch  where error.errno == ENOENT && fs.exists(path) {
            // cgroup.kill missing (kernel < 5.14): signal pid by pid below.
        }
        let freezeFile = path + "/cgroup.freeze"
        let canFreeze = fs.exists(freezeFile)
        if canFreeze { try? fs.write(freezeFile, "1") }
        defer { if canFreeze { try? fs.write(freezeFile, "0") } }
        let deadline = ContinuousClock.now + fallbackTimeout
        var pause = Duration.milliseconds(1)
        while true {
            let list = try pids()
            if list.isEmpty { return }
            for pid in list { _ = Glibc.kill(pid, SIGKILL) }
            if ContinuousClock.now >= deadline {
                throw CgroupError(
                    code: .timeout, path: procsPath,
                    description: "cgroup: \(procsPath) still lists \(list.count) process(es) after SIGKILL for \(fallbackTimeout)")
            }
            sleepFor(pause)
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    /// `cgroup.events` as a dictionary (`populated`, `frozen`); empty if the file is missing.
    public func events() -> [String: UInt64] {
        (try? fs.read(path + "/cgroup.events")).map(flatKeyed) ?? [:]
    }

    /// Whether `cgroup.events` says `populated 1` (a process in the leaf or below). False once the
    /// directory is gone.
    public func isPopulated() throws(CgroupError) -> Bool {
        let file = path + "/cgroup.events"
        let text: String
        do {
            text = try fs.read(file)
        } catch  where error.errno == ENOENT {
            return false
        }
        guard let value = flatKeyed(text)["populated"] else {
            throw CgroupError(code: .parse, path: file, description: "cgroup: no \"populated\" key in \(file)")
        }
        return value != 0
    }

    /// Polls `cgroup.events` until it reads `populated 0` (or the leaf is gone), every 1 ms growing
    /// to 20 ms. Returns false when `timeout` passes first.
    @discardableResult
    public func waitEmpty(timeout: Duration) throws(CgroupError) -> Bool {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(1)
        while try isPopulated() {
            if ContinuousClock.now >= deadline { return false }
            sleepFor(pause)
            pause = min(pause * 2, .milliseconds(20))
        }
        return true
    }

    /// Kills what is left, waits until the leaf is unpopulated, and removes the directory (rmdir,
    /// EBUSY retried). Idempotent: a leaf that no longer exists is not an error.
    /// - Throws: `.timeout` if processes outlive `timeout`, `.syscall` for kill/rmdir failures.
    public func remove(timeout: Duration = .seconds(5)) throws(CgroupError) {
        if !fs.exists(path) { return }
        if try isPopulated() {
            try kill(fallbackTimeout: timeout)
            guard try waitEmpty(timeout: timeout) else {
                throw CgroupError(
                    code: .timeout, path: path,
                    description: "cgroup: \(path) still populated \(timeout) after kill; not removed")
            }
        }
        do {
            try busyRetry.run { () throws(CgroupError) in try fs.removeDirectory(path) }
        } catch  where error.errno == ENOENT {
            return
        } catch  where error.errno == EBUSY {
            throw error.adding(hint: "the leaf still has processes or child cgroups")
        }
    }

    // MARK: - freeze

    /// Writes "1" to `cgroup.freeze` and waits until `cgroup.events` reports `frozen 1`.
    /// - Throws: `.syscall`, or `.timeout` if the kernel has not frozen every task in time.
    public func freeze(timeout: Duration = .seconds(2)) throws(CgroupError) {
        try fs.write(path + "/cgroup.freeze", "1")
        try waitFrozen(1, timeout: timeout)
    }

    /// Writes "0" to `cgroup.freeze` and waits until `cgroup.events` reports `frozen 0`.
    public func thaw(timeout: Duration = .seconds(2)) throws(CgroupError) {
        try fs.write(path + "/cgroup.freeze", "0")
        try waitFrozen(0, timeout: timeout)
    }

    private func waitFrozen(_ want: UInt64, timeout: Duration) throws(CgroupError) {
        let file = path + "/cgroup.events"
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(1)
        while flatKeyed(try fs.read(file))["frozen"] != want {
            if ContinuousClock.now >= deadline {
                throw CgroupError(
                    code: .timeout, path: file,
                    description: "cgroup: \(file) did not report \"frozen \(want)\" within \(timeout)")
            }
            sleepFor(pause)
            pause = min(pause * 2, .milliseconds(20))
        }
    }

    // MARK: - statistics

    /// `memory.events` (low, high, max, oom, oom_kill, oom_group_kill); empty when the file does not
    /// exist (memory controller not enabled for the leaf).
    public func memoryEvents() -> [String: UInt64] { flat("memory.events") }

    /// `memory.peak` in bytes (Linux ≥ 5.19 with the memory controller), else nil.
    public func memoryPeak() -> UInt64? { number("memory.peak") }

    /// `memory.current` in bytes, nil without the memory controller.
    public func memoryCurrent() -> UInt64? { number("memory.current") }

    /// `cpu.stat`: usage_usec, user_usec, system_usec (always present, even without the cpu
    /// controller) and nr_periods, nr_throttled, throttled_usec… (with it). Units: µs / counts.
    public func cpuStat() -> [String: UInt64] { flat("cpu.stat") }

    /// `pids.current`, nil without the pids controller.
    public func pidsCurrent() -> UInt64? { number("pids.current") }

    /// Reads back memory.max, memory.swap.max, cpu.max, cpu.weight and pids.max; a field is nil when
    /// its file does not exist (controller not enabled) or cannot be parsed. `max` reads as -1.
    public func readLimits() -> CgroupLimits {
        func text(_ name: String) -> String? { try? fs.read(path + "/" + name) }
        return CgroupLimits(
            memoryMax: text("memory.max").flatMap(CgroupLimits.parseMaxOr),
            memorySwapMax: text("memory.swap.max").flatMap(CgroupLimits.parseMaxOr),
            cpuMax: text("cpu.max").flatMap { CgroupLimits.CPUMax(fileValue: $0) },
            cpuWeight: text("cpu.weight").flatMap { UInt64(trimmed($0)) },
            pidsMax: text("pids.max").flatMap(CgroupLimits.parseMaxOr))
    }

    private func flat(_ name: String) -> [String: UInt64] {
        (try? fs.read(path + "/" + name)).map(flatKeyed) ?? [:]
    }

    private func number(_ name: String) -> UInt64? {
        (try? fs.read(path + "/" + name)).flatMap { UInt64(trimmed($0)) }
    }
}
