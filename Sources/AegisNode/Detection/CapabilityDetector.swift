// CapabilityDetector.swift — what this worker advertises: CPU, memory, GPUs, runtimes, isolation.

#if canImport(Glibc)
import Glibc
#endif
import AegisProtocol
import Logging
import AegisSystem

/// Detects a node's `NodeCapabilities`. Never throws: anything that cannot be read or run becomes
/// a line in `NodeCapabilities.warnings` (also logged at warning level) and detection goes on.
///
/// - CPU (millicores): min(usable CPUs × 1000, tightest cgroup quota). Usable CPUs = the
///   sched_getaffinity(2) mask on the real host, else `<root>/sys/devices/system/cpu/online`;
///   quota = v2 `cpu.max` ($MAX×1000/$PERIOD) over the own cgroup and its ancestors (v1
///   `cpu.cfs_quota_us`/`cpu.cfs_period_us` on hybrid hosts).
/// - Memory (bytes): `MemTotal` of `<root>/proc/meminfo`, capped by the tightest `memory.max`
///   (v1 `memory.limit_in_bytes`) over the own cgroup and its ancestors.
/// - GPUs: see `detectGPUs()`.
/// - Runtimes: each `RuntimeProbe` found as agents see it (`agentView`: their PATH inside the
///   directories their sandboxes bind) below the root, run with `runtimeTimeout`; copies on the
///   daemon's `path` agents can't run are listed in `unavailableRuntimes` with the reason.
/// - Isolation: cgroup v2 controllers usable under `<own cgroup>/aegis` (or its nearest existing
///   ancestor), seccomp (`Seccomp:` in /proc/self/status or /proc/sys/kernel/seccomp/actions_avail,
///   proc(5)), user namespaces (/proc/sys/user/max_user_namespaces > 0, user_namespaces(7)),
///   kernel release (/proc/sys/kernel/osrelease).
public struct CapabilityDetector: Sendable {
    public let options: DetectionOptions
    let logger: Logger
    let files: HostFiles

    public init(options: DetectionOptions = DetectionOptions(), logger: Logger = Logger(label: "aegis.node.detection")) {
        self.options = options
        self.logger = logger
        self.files = HostFiles(root: options.root)
    }

    /// Runs every probe (runtimes and nvidia-smi concurrently with the file reads' results).
    /// Takes at most about max(commandTimeout, runtimeTimeout) plus file-read time.
    public func detect() async -> NodeCapabilities {
        async let gpuResult = detectGPUs()
        async let runtimeResult = RuntimeScan.scan(
            files, path: options.path, view: options.agentView,
            probes: options.runtimeProbes, timeout: options.runtimeTimeout)
        var warnings: [String] = []
        let cgroups = CgroupView.read(files, warnings: &warnings)
        let cpu = cpuMillis(cgroups, warnings: &warnings)
        let memory = memoryBytes(cgroups, warnings: &warnings)
        let isolation = isolationFeatures(cgroups, warnings: &warnings)
        let gpus = await gpuResult
        let runtimes = await runtimeResult
        warnings += gpus.warnings + runtimes.warnings
        for w in warnings { logger.warning("capability detection: \(w)") }
        for u in runtimes.unavailable { logger.notice("runtime not advertised: \(u.summary)") }
        return NodeCapabilities(
            cpuMillis: cpu, memoryBytes: memory, gpus: gpus.gpus, runtimes: runtimes.runtimes,
            isolation: isolation, labels: options.labels, warnings: warnings,
            unavailableRuntimes: runtimes.unavailable)
    }

    /// GPUs from `<root>/sys/bus/pci/devices/*/{vendor,class,device}` (NVIDIA 0x10de and AMD 0x1002
    /// display class 0x03, AMD accelerator class 0x12, Intel 0x8086 class 0x0300/0x0380), with:
    /// NVIDIA model/UUID/minor from /proc/driver/nvidia/gpus/<bus>/information, node /dev/nvidia<minor>,
    /// index = minor; AMD/Intel node /dev/dri/renderD<N> from `<pci>/drm/renderD<N>`, index N − 128,
    /// AMD model from `product_name` and memory from `mem_info_vram_total`; otherwise model is the PCI
    /// device id. When an NVIDIA GPU was found and `options.nvidiaSMI` resolves, nvidia-smi (bounded by
    /// `commandTimeout`) fills in names, missing UUIDs and memory, matched by PCI address.
    public func detectGPUs() async -> GPUDetectionResult {
        var result = GPUScan.scan(files)
        if result.gpus.contains(where: { $0.vendor == GPUVendor.nvidia }), let smi = options.nvidiaSMI,
            let hostPath = files.which(smi, path: options.path)
        {
            result.warnings += await NvidiaSMI.enrich(
                &result.gpus, executable: files.real(hostPath), hostPath: hostPath,
                timeout: options.commandTimeout)
        }
        return result
    }

    /// Existing vendor-wide device nodes a sandbox needs besides each GPU's own nodes, as host
    /// paths checked below `root`: nvidia → /dev/nvidiactl, /dev/nvidia-uvm, /dev/nvidia-uvm-tools,
    /// /dev/nvidia-modeset; amd → /dev/kfd; intel → none.
    public static func controlNodes(vendor: String, root: String = "/") -> [String] {
        GPUScan.controlNodes(vendor: vendor, files: HostFiles(root: root))
    }

    // MARK: - CPU and memory

    func cpuMillis(_ cgroups: CgroupView, warnings: inout [String]) -> Int64 {
        var cpus: Int?
        if files.isRealHost {
            do { cpus = try Syscall.affinityCPUCount() } catch {
                warnings.append("cpu: \(error); using the online CPU list")
            }
        }
        if cpus == nil || cpus == 0 {
            do {
                let list = trimmed(try files.read("/sys/devices/system/cpu/online"))
                cpus = parseCPUList(list)
                if cpus == nil { warnings.append("cpu: malformed CPU list \"\(list)\" in /sys/devices/system/cpu/online") }
            } catch {
                warnings.append("cpu: \(error)")
            }
        }
        let quota = cgroups.cpuQuotaMillis(files)
        switch (cpus, quota) {
        case let (c?, q?) where c > 0: return min(Int64(c) * 1000, q)
        case let (c?, nil) where c > 0: return Int64(c) * 1000
        case let (_, q?): return q
        default:
            warnings.append("cpu: no usable CPU count; advertising 0 millicores")
            return 0
        }
    }

    func memoryBytes(_ cgroups: CgroupView, warnings: inout [String]) -> Int64 {
        var total: Int64?
        do {
            total = ProcFS.meminfoValueBytes(try files.read("/proc/meminfo"), key: "MemTotal")
            if total == nil { warnings.append("memory: no MemTotal line in /proc/meminfo") }
        } catch {
            warnings.append("memory: \(error)")
        }
        let limit = cgroups.memoryLimitBytes(files)
        switch (total, limit) {
        case let (t?, l?): return min(t, l)
        case let (t?, nil): return t
        case let (nil, l?): return l
        default: return 0
        }
    }

    // MARK: - Isolation

    func isolationFeatures(_ cgroups: CgroupView, warnings: inout [String]) -> IsolationFeatures {
        var features = IsolationFeatures(allowUnenforcedLimits: options.allowUnenforcedLimits)
        if let override = options.cgroupControllersOverride {
            features.cgroupControllers = override
        } else if let usable = cgroups.usableControllers(files) {
            features.cgroupControllers = usable.controllers
            let missing = ["memory", "cpu", "pids"].filter { !usable.controllers.contains($0) }
            if !missing.isEmpty {
                warnings.append(
                    "cgroup: controllers \(missing.joined(separator: ", ")) not available in \(usable.directory)/cgroup.controllers; those limits cannot be enforced"
                )
            }
        } else if cgroups.v2 != nil {
            warnings.append("cgroup: cannot read cgroup.controllers of the sandboxes' parent or any ancestor")
        }
        let status = (try? files.read("/proc/self/status")) ?? ""
        let hasSeccompLine = status.split(separator: "\n").contains { $0.hasPrefix("Seccomp:") }
        features.seccomp = hasSeccompLine || files.exists("/proc/sys/kernel/seccomp/actions_avail")
        features.userNamespaces = (files.readTrimmed("/proc/sys/user/max_user_namespaces").flatMap { Int($0) } ?? 0) > 0
        do {
            features.kernelVersion = trimmed(try files.read("/proc/sys/kernel/osrelease"))
        } catch {
            warnings.append("kernel: \(error)")
        }
        return features
    }
}

/// Number of CPUs in a kernel CPU list ("0-3,8,10-11" → 7; Documentation/admin-guide/cputopology.rst).
/// nil when malformed.
func parseCPUList(_ text: String) -> Int? {
    var count = 0
    for item in text.split(separator: ",") {
        let bounds = item.split(separator: "-")
        if bounds.count == 1, Int(bounds[0]) != nil {
            count += 1
        } else if bounds.count == 2, let a = Int(bounds[0]), let b = Int(bounds[1]), b >= a {
            count += b - a + 1
        } else {
            return nil
        }
    }
    return count > 0 ? count : nil
}
