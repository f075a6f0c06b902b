// Worker.swift — runs placed workloads as sandboxes (AegisSandbox, agent profile), keeps their
// logs and outputs, reports starts and exits, and re-adopts sandboxes after a restart.
//
// Sandbox ids are "<workload id>.g<generation>": a copy from an older placement is recognisable
// (and refused) by its generation.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisImage
import AegisNet
import Dispatch
import AegisOCI
import AegisProtocol
import AegisSandbox
import Logging
import Synchronization
import AegisSystem

/// When the worker collects unused images (the kubelet's `--image-gc-high-threshold` and
/// `--image-gc-low-threshold`): from `highPercent` use of the image store's file system down to
/// below `lowPercent`.
public struct ImageGCPolicy: Sendable, Equatable {
    public var highPercent: Int
    public var lowPercent: Int
    public init(highPercent: Int = 85, lowPercent: Int = 80) {
        self.highPercent = highPercent
        self.lowPercent = lowPercent
    }
}

/// One placement handed to a worker.
public struct Assignment: Sendable {
    public var workload: Workload
    /// The tenant's unprivileged uid (and gid).
    public var uid: UInt32
    /// The GPUs assigned, with their device nodes.
    public var gpus: [GPUDevice]
    /// The workload's image once pulled (`Worker.startFromImage`); nil: the host profile.
    public var image: PulledImage?

    public init(workload: Workload, uid: UInt32, gpus: [GPUDevice] = [], image: PulledImage? = nil) {
        self.workload = workload
        self.uid = uid
        self.gpus = gpus
        self.image = image
    }
}

public final class Worker: Sendable {
    public let paths: AegisPaths
    public let runtime: SandboxRuntime
    let logger: Logger
    let monitor = SandboxMonitor()
    let onEvent: @Sendable (WorkerEvent) -> Void
    /// Per-stream log history cap in bytes: the sandbox's supervisor keeps each log file at most
    /// this long as it is written, dropping the oldest output behind a marker line (CappedLog).
    public let logCapBytes: Int
    /// 16 MiB.
    public static let defaultLogCapBytes = 16 << 20
    /// The smallest log cap, bytes.
    public static let minimumLogCapBytes = CappedLog.minimumCapBytes
    /// Grace between SIGTERM and SIGKILL on cancel, seconds.
    public let stopGraceSeconds: Int
    let flags = Mutex<(timedOut: Set<String>, cancelled: Set<String>, evicted: Set<String>)>(([], [], []))
    /// Armed timeout deadlines: sandbox id → the monitor's key (Worker+Deadlines.swift).
    let deadlineKeys = Mutex<[String: UInt64]>([:])
    /// Sandboxes whose supervisor the monitor is watching.
    private let watched = Mutex<Set<String>>([])

    /// Sandboxes running now: those whose supervisor is being watched (no file is read).
    public var runningSandboxes: Int { watched.withLock { $0.count } }
    /// Network mode `egress` (nil when not enabled or its setup failed: see `networkCapability`).
    public let egress: EgressNetwork?
    /// What the node advertises about egress and reachability.
    public let networkCapability: NetworkCapability
    /// Self-fencing: the lease file every sandbox's supervisor watches (Worker+Lease.swift).
    public let lease: WorkerLease?
    let leaseKeeper: LeaseKeeper?
    /// Whether /work is a volume of each sandbox's own (`WorkVolume`: loop devices and mke2fs are
    /// there); otherwise a directory of the node's disk without a size limit.
    public let workVolumesSupported: Bool
    /// How long the logs and outputs of an ended placement stay on the node (for `aegis logs` and
    /// `aegis cp`), seconds; then its workload directory is removed (`removeExpiredWorkloads`).
    public let outputRetentionSeconds: Int64
    /// Copies of ended placements' outputs out of their volumes, one at a time, off every caller.
    let outputCopies = DispatchQueue(label: "aegis.worker.output-copies")
    /// Default `outputRetentionSeconds`: 24 h.
    public static let defaultOutputRetentionSeconds: Int64 = 86_400
    /// The node's image store (`<data-dir>/images`); nil: workloads with an image fail to start.
    public let images: ImageStore?
    /// How this worker reaches registries (insecure ones, CA file, auth file).
    public let registryOptions: RegistryOptions
    /// Directories (real paths) beneath which workloads may name local image sources (`oci:`,
    /// `oci-archive:`); empty: none.
    public let localImageDirectories: [String]
    /// Automatic image garbage collection after pulls (nil: only `aegis image prune`).
    public let imageGC: ImageGCPolicy?
    /// Assignments waiting for their image (`submit`), drained by the node's image service.
    public let imageStarts: AsyncStream<Assignment>
    let imageStartInput: AsyncStream<Assignment>.Continuation
    /// Pulls in progress by sandbox id: cancelling one stops the pull (a kill before the start).
    let pullCancellers = Mutex<[String: @Sendable () -> Void]>([:])
    /// Rootfs keys of images pulled for starts whose sandbox doesn't exist yet, with their count:
    /// garbage collection keeps them.
    let startingImages = Mutex<[String: Int]>([:])

    /// - Parameter egress: enables network mode `egress` (bridge, NAT, nftables); its setup
    ///   re-adopts the namespaces of live sandboxes and removes every other leftover. A failure is
    ///   logged and advertised (`networkCapability.egressProblem`), not fatal.
    /// - Parameter lease: self-fencing; the lease file is refreshed at once and then automatically
    ///   (`stopRenewingLease()`), and passed with its grace to every sandbox's supervisor.
    /// - Parameter logCapBytes: see `logCapBytes`; at least `CappedLog.minimumCapBytes`.
    /// - Throws: `SandboxError` when the sandbox runtime can't be set up (no cgroup2 hierarchy), the
    ///   log cap is too small, or the lease is invalid or its file can't be written.
    public init(
        paths: AegisPaths, logger: Logger, cgroupParent: String? = nil, logCapBytes: Int = Worker.defaultLogCapBytes,
        stopGraceSeconds: Int = 5, egress egressConfig: EgressConfig? = nil, lease: WorkerLease? = nil,
        outputRetentionSeconds: Int64 = Worker.defaultOutputRetentionSeconds,
        images: ImageStore? = nil, registryOptions: RegistryOptions = RegistryOptions(), localImageDirectories: [String] = [],
        imageGC: ImageGCPolicy? = nil, onEvent: @escaping @Sendable (WorkerEvent) -> Void
    ) throws {
        self.images = images
        self.imageGC = imageGC
        self.localImageDirectories = localImageDirectories.compactMap { dir in
            guard let real = realpath(dir, nil) else { return nil }
            defer { free(real) }
            return String(cString: real)
        }
        self.registryOptions = registryOptions
        (imageStarts, imageStartInput) = AsyncStream<Assignment>.makeStream()
        guard logCapBytes >= CappedLog.minimumCapBytes else {
            throw SandboxError(.invalidSpec, "log cap \(logCapBytes) bytes: must be at least \(CappedLog.minimumCapBytes)")
        }
        self.paths = paths
        self.logger = logger
        self.logCapBytes = logCapBytes
        self.stopGraceSeconds = stopGraceSeconds
        self.outputRetentionSeconds = outputRetentionSeconds
        self.onEvent = onEvent
        if let problem = WorkVolume.unsupportedReason() {
            logger.warning(
                "per-agent disk limits are not enforced: /work is a directory of the node's disk",
                metadata: ["reason": "\(problem)"])
            workVolumesSupported = false
        } else {
            workVolumesSupported = true
        }
        try SandboxError.os(try FileSystem.makeDirectories(paths.sandboxes, mode: 0o711))
        try SandboxError.os(try FileSystem.makeDirectories(paths.workloads, mode: 0o711))
        self.lease = lease
        leaseKeeper = try lease.map { try LeaseKeeper($0, logger: logger) }
        runtime = try SandboxRuntime(stateRoot: paths.sandboxes, cgroupParent: cgroupParent)
        try Self.checkSupervisorVersion(runtime.supervisorPath)
        try AgentProfile.prepareRootfs(at: paths.sandboxes + "/.agent-root")
        try AgentProfile.prepareImageSkeleton(at: paths.sandboxes + "/.image-skeleton")
        (egress, networkCapability) = Self.setUpEgress(egressConfig, runtime: runtime, logger: logger)
        removeUnrecordedSandboxes()
        retainLeftoverVolumes()
        // last: a worker that failed to start must not keep a lease alive
        if lease?.automatic ?? false { leaseKeeper?.startRenewing() }
    }

    deinit { leaseKeeper?.stopRenewing() }

    public static func sandboxID(_ workloadID: String, _ generation: Int64) -> String { "\(workloadID).g\(generation)" }

    static func parseSandboxID(_ s: String) -> (String, Int64)? {
        guard let dot = s.lastIndex(of: "."), s[s.index(after: dot)...].hasPrefix("g"),
            let g = Int64(s[s.index(dot, offsetBy: 2)...])
        else { return nil }
        return (String(s[..<dot]), g)
    }

    // MARK: start

    /// Creates the workload's directory (inputs, output dir, logs) and its sandbox. Reports
    /// `.started`, later `.exited`; or `.failedToStart`.
    /// `start` on a thread of its own, awaited: a spawn blocks its thread (clone, the set-up's
    /// report — at most the shim's spawn deadline) and must never hold one of the few threads of
    /// Swift's cooperative pool, which the node's API and lease renewals run on.
    public func startOffPool(_ a: Assignment) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread { [self] in
                start(a)
                done.resume()
            }.start()
        }
    }

    public func start(_ a: Assignment) {
        let w = a.workload
        let id = Self.sandboxID(w.id, w.generation)
        do {
            let pid = try launch(a, sandboxID: id)
            onEvent(.started(id: w.id, generation: w.generation, pid: pid))
        } catch {
            removeImageScratch(w.id, generation: w.generation)
            logger.warning("workload failed to start", metadata: ["workload": "\(w.id)", "error": "\(error)"])
            onEvent(.failedToStart(id: w.id, generation: w.generation, error: "\(error)"))
        }
    }

    private func launch(_ a: Assignment, sandboxID id: String) throws -> Int32 {
        let w = a.workload
        let dir = paths.workloadDir(w.id)
        try SandboxError.os(try FileSystem.makeDirectories(dir, mode: 0o711))
        waitForOutputCopies(workloadDir: dir)
        unlink(dir + "/" + Self.endedMarker)
        let work = try prepareWorkDirectory(a)

        var request = Self.request(a, workDir: work)
        if let image = a.image {
            request.args = try Self.imageArgv(w.spec, image: image)
            request.image = try imageRoot(a, image: image)
        }
        // The sandbox's mount holds the loop device from `create` on; this fd only until then.
        let volume = try createWorkVolume(w, uid: a.uid, staging: work)
        defer { if let volume { close(volume.fd) } }
        if let volume {
            request.workDevice = volume.path
            if let rule = DeviceRules.allowRule(forNode: volume.path) { request.allowedDevices.append(rule) }
        }
        let attachment: EgressAttachment?
        do { attachment = try attachEgress(w, sandboxID: id) } catch {
            WorkVolume.remove(in: dir, generation: w.generation)
            throw error
        }
        if let attachment {
            request.netnsPath = attachment.netns.path
            request.resolvConf = attachment.resolvConf
        }
        let spec = AgentProfile.spec(request, rootfs: paths.sandboxes + "/.agent-root")
        let record: SandboxRecord
        do {
            let deadline = try recordDeadline(w)
            record = try runtime.create(id: id, spec: spec, bundle: dir, options: createOptions(logDirectory: dir))
            watch(record, workloadID: w.id, generation: w.generation)
            stopIfCancelledWhileCreating(id)
            if let deadline { arm(deadline, sandboxID: id) }
        } catch {
            if attachment != nil { egress?.detach(sandbox: id) }
            WorkVolume.remove(in: dir, generation: w.generation)
            throw error
        }
        return record.pid
    }

    /// The placement's /work volume (`WorkVolume`), or nil on a node without loop devices or
    /// mke2fs (/work is then a directory of the node's disk, without a size limit; logged at start).
    private func createWorkVolume(_ w: Workload, uid: UInt32, staging: String) throws -> WorkVolume.Attachment? {
        guard workVolumesSupported else { return nil }
        let volume = WorkVolume(
            generation: w.generation, outputDir: w.spec.outputDir,
            sizeBytes: w.spec.resources.diskBytes ?? WorkVolume.defaultSizeBytes, owner: uid)
        return try volume.create(in: paths.workloadDir(w.id), workloads: paths.workloads, from: staging)
    }

    /// The agent-profile request for an assignment: limits (minus those the node can't enforce),
    /// GPU device nodes and the vendors' visibility variables.
    static func request(_ a: Assignment, workDir: String) -> AgentSandboxRequest {
        let s = a.workload.spec
        let unenforced = Set(a.workload.unenforcedLimits)
        var res = LinuxResources()
        if let m = s.resources.memoryBytes, !unenforced.contains("memory") {
            res.memory = LinuxMemory(limit: m, swap: m)  // OCI swap = memory+swap: no swap
        }
        if let c = s.resources.cpuMillis, !unenforced.contains("cpu") {
            res.cpu = LinuxCPU(quota: c.saturatingMultiplied(by: 100), period: 100_000)
        }
        if let p = s.resources.pids, !unenforced.contains("pids") { res.pids = LinuxPids(limit: p) }
        var env = s.env.map { "\($0.key)=\($0.value)" }.sorted()
        var mounts: [Mount] = []
        var nodes = Set<String>()
        for g in a.gpus {
            nodes.formUnion(g.deviceNodes)
            nodes.formUnion(CapabilityDetector.controlNodes(vendor: g.vendor))
        }
        var allowed: [LinuxDeviceCgroup] = []
        for n in nodes.sorted() where access(n, F_OK) == 0 {
            mounts.append(Mount(destination: n, type: "bind", source: n, options: ["bind", "nosuid"]))
            if let rule = DeviceRules.allowRule(forNode: n) { allowed.append(rule) }
        }
        let indexes = a.gpus.compactMap { $0.index }.map(String.init).joined(separator: ",")
        if a.gpus.contains(where: { $0.vendor == "nvidia" }) {
            env += ["NVIDIA_VISIBLE_DEVICES=\(indexes)", "CUDA_VISIBLE_DEVICES=\(indexes)"]
        } else if a.gpus.contains(where: { $0.vendor == "amd" }) {
            env += ["ROCR_VISIBLE_DEVICES=\(indexes)", "HIP_VISIBLE_DEVICES=\(indexes)"]
        }
        let network: AgentSandboxRequest.Network
        switch s.network {
        case .host: network = .host
        case .loopback: network = .loopback
        case .egress: network = .egress
        case .none: network = .none
        }
        return AgentSandboxRequest(
            args: s.args, env: env, workDir: workDir, uid: a.uid, gid: a.uid,
            hostname: s.name, network: network,
            resources: res == LinuxResources() ? nil : res, extraMounts: mounts,
            allowedDevices: allowed, tmpSizeBytes: s.resources.tmpBytes)
    }

    private func watch(_ record: SandboxRecord, workloadID: String, generation: Int64) {
        let id = record.id
        // A reconcile after a reconnect finds sandboxes already watched: one watch (one exit report) each.
        guard watched.withLock({ $0.insert(id).inserted }) else { return }
        let report: @Sendable () -> Void = { [weak self] in self?.finished(sandboxID: id, workloadID: workloadID, generation: generation) }
        if !monitor.watch(pid: record.supervisorPid, onExit: report) { report() }
    }

    private func finished(sandboxID id: String, workloadID: String, generation: Int64) {
        _ = watched.withLock { $0.remove(id) }
        disarm(sandboxID: id)
        let (timedOut, cancelled, evicted) = flags.withLock {
            ($0.timedOut.remove(id) != nil, $0.cancelled.remove(id) != nil, $0.evicted.remove(id) != nil)
        }
        if let outcome = try? runtime.wait(id, timeout: .seconds(2)) {
            let report = ExitReport(
                exitCode: outcome.exitCode, signal: outcome.signal, oomKilled: outcome.oomKilled, wallTimeUs: outcome.wallTimeUs,
                cpuTimeUs: outcome.cgroupCpuUsageUs ?? (outcome.cpuUserUs + outcome.cpuSystemUs),
                peakMemoryBytes: outcome.peakMemoryBytes, timedOut: timedOut, cancelled: cancelled,
                error: outcome.error.map { "\($0.step): errno \($0.errno): \($0.detail)" }, fenced: outcome.fenced,
                evicted: evicted ? true : nil)
            onEvent(.exited(id: workloadID, generation: generation, report: report))
        } else {
            onEvent(.lost(id: workloadID, generation: generation))
        }
        egress?.detach(sandbox: id)
    }

    // MARK: control

    /// Stops a workload's sandbox: SIGTERM to its init (forwarded to the agent), SIGKILL of the
    /// whole cgroup after the grace period. A sandbox still being created is stopped as soon as it
    /// exists (`stopIfCancelledWhileCreating`).
    public func cancel(workloadID: String, generation: Int64) {
        let id = Self.sandboxID(workloadID, generation)
        _ = flags.withLock { $0.cancelled.insert(id) }
        pullCancellers.withLock { $0[id] }?()
        stop(sandboxID: id)
    }

    func stop(sandboxID id: String) {
        try? runtime.kill(id, signal: SIGTERM)
        // SIGKILL after the grace: a deadline on the monitor's thread, which the worker owns (no task sleeps for it).
        monitor.at(unixMs: SandboxMonitor.nowUnixMs() + Int64(stopGraceSeconds) * 1000) { [weak self] in
            guard let self, let state = try? self.runtime.state(id), state.status != .stopped else { return }
            try? self.runtime.kill(id, signal: SIGKILL)
        }
    }

    /// After a restart or a reconnect: re-watches sandboxes still running (reporting them as
    /// started again), reports those that ended meanwhile (from their outcome.json), and reports as
    /// lost the active workloads whose sandbox is gone. Copies from stale generations are killed
    /// and removed.
    public func reconcile(active: [(id: String, generation: Int64)]) {
        let wanted = Dictionary(active.map { ($0.id, $0.generation) }, uniquingKeysWith: { a, _ in a })
        var seen = Set<String>()
        for sid in runtime.list() {
            guard let (wid, gen) = Self.parseSandboxID(sid) else { continue }
            guard wanted[wid] == gen else {
                logger.warning("removing stale sandbox", metadata: ["sandbox": "\(sid)"])
                try? runtime.delete(sid, force: true)
                egress?.detach(sandbox: sid)
                continue
            }
            seen.insert(wid)
            guard let record = try? runtime.record(sid) else { continue }
            if runtime.status(record) == .stopped {
                finished(sandboxID: sid, workloadID: wid, generation: gen)
            } else {
                logger.info("re-adopted sandbox", metadata: ["sandbox": "\(sid)", "pid": "\(record.pid)"])
                // Again, in case the first report was lost with a connection (the controller ignores repeats).
                onEvent(.started(id: wid, generation: gen, pid: record.pid))
                watch(record, workloadID: wid, generation: gen)
                // Its timeout counts from its launch: one that passed while the node was down stops it now.
                if let deadline = TimeoutDeadline.load(from: paths.workloadDir(wid), generation: gen) {
                    arm(deadline, sandboxID: sid)
                }
            }
        }
        for (wid, gen) in wanted where !seen.contains(wid) { onEvent(.lost(id: wid, generation: gen)) }
    }

    /// Stops every running sandbox (for `aegis down` / --drain-on-exit) and waits for them.
    /// - Parameter evict: report them as evicted (placed again by restart policy) rather than
    ///   cancelled: a worker leaving a cluster; a hybrid node's `aegis down` cancels.
    public func stopAll(evict: Bool = false) async {
        let ids = runtime.list().filter { (try? runtime.state($0).status) != .stopped }
        for id in ids {
            _ = flags.withLock { if evict { $0.evicted.insert(id) } else { $0.cancelled.insert(id) } }
            stop(sandboxID: id)
        }
        for id in ids { _ = try? runtime.wait(id, timeout: .seconds(stopGraceSeconds + 5)) }
    }

    // MARK: logs and outputs

    public func logPath(workloadID: String, stream: LogStream) -> String {
        paths.workloadDir(workloadID) + "/" + (stream == .stderr ? "stderr.log" : "stdout.log")
    }

    /// Up to `maxBytes` of a log from logical `offset` (CappedLog: offsets count dropped bytes
    /// too); nil when there is no log.
    public func readLog(workloadID: String, stream: LogStream, offset: Int64, maxBytes: Int) -> CappedLogChunk? {
        CappedLog.read(path: logPath(workloadID: workloadID, stream: stream), offset: offset, maxBytes: maxBytes)
    }
}

extension Worker {
    /// The aegis-supervisor must be this build's (its argv and the state it writes are a contract
    /// with this aegis): `--version` must print "aegis-supervisor <SandboxRuntime.version>".
    /// - Throws: `SandboxError` naming both versions, or why the supervisor could not say.
    static func checkSupervisorVersion(_ path: String?) throws {
        guard let path else { return }
        let result = CommandRunner.runBlocking(path, arguments: ["--version"], argv0: path, timeout: .seconds(10))
        let text = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let theirs = text.hasPrefix("aegis-supervisor ") ? String(text.dropFirst("aegis-supervisor ".count)) : nil
        guard theirs == SandboxRuntime.version else {
            let what = theirs.map { "aegis-supervisor \($0)" } ?? "an aegis-supervisor that gives no version (\(result.ending))"
            throw SandboxError(
                .system,
                "\(path) is \(what), this aegis is \(SandboxRuntime.version): install both from one build (`aegis install` copies them together)"
            )
        }
    }
}
