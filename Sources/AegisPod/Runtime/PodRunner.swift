// PodRunner.swift — runs one pod on this host as a kubelet runs a static pod: an infra sandbox
// holding the pod's IPC, UTS (and network) namespaces, then the init containers in order (native
// sidecars gating what follows until started), then the main containers; restarts by policy with
// the kubelet's back-off, probes, the ordered stop, and the whole pod restarted when the infra dies.
//
// The loop never blocks on a container: every step is a state change recorded in state.json
// (PodRecord) and acted on at the next tick, so a runner killed at any point and started again
// finds the same pod and re-adopts what runs.
#if canImport(Glibc)
import Glibc
#endif
import AegisImage
import AegisSandbox
import AegisSystem
import Logging
import ServiceLifecycle
import Synchronization

/// How the runner works (defaults are the kubelet's).
public struct PodRunnerOptions: Sendable {
    /// All pods' directory (`PodPaths.root`).
    public var root: String
    /// The image store shared with `aegis image`.
    public var imageRoot: String
    public var registry: RegistryOptions
    /// Start containers whose `resources.limits` the host's cgroups cannot enforce (their limits
    /// are dropped and the container's record says so) instead of refusing the pod.
    public var allowUnenforcedLimits: Bool
    /// Each container's stdout.log and stderr.log are kept at most this long, bytes.
    public var logCapBytes: Int
    /// Restart back-off: first delay, cap, and how long a container must run for the delay to
    /// reset (kubelet: 10 s, 300 s, 10 min).
    public var backoffInitialSeconds: Int
    public var backoffMaxSeconds: Int
    public var backoffResetSeconds: Int
    /// How often the loop looks at the pod.
    public var tick: Duration
    /// The cgroup (relative to the cgroup2 root) pods go under as `pods/<name>`; nil: the default
    /// parent below this process's own cgroup.
    public var cgroupParent: String?

    public init(
        root: String = "/var/lib/aegis/pods", imageRoot: String = "/var/lib/aegis/images", registry: RegistryOptions = RegistryOptions(),
        allowUnenforcedLimits: Bool = false, logCapBytes: Int = 10 << 20, backoffInitialSeconds: Int = 10, backoffMaxSeconds: Int = 300,
        backoffResetSeconds: Int = 600, tick: Duration = .milliseconds(200)
    ) {
        self.root = root
        self.imageRoot = imageRoot
        self.registry = registry
        self.allowUnenforcedLimits = allowUnenforcedLimits
        self.logCapBytes = logCapBytes
        self.backoffInitialSeconds = backoffInitialSeconds
        self.backoffMaxSeconds = backoffMaxSeconds
        self.backoffResetSeconds = backoffResetSeconds
        self.tick = tick
    }
}

/// One pod, served by this process until it is stopped (or ends, with restartPolicy Never or
/// OnFailure).
public actor PodRunner: Service {
    public nonisolated let manifest: PodManifest
    public nonisolated let paths: PodPaths
    let options: PodRunnerOptions
    let sandboxes: SandboxRuntime
    let images: ImageStore
    let logger: Logger
    /// The locked runner.lock (held for the runner's life).
    let lockFD: Int32
    var record: PodRecord
    /// Resolved images by container name (pulled before anything starts).
    var pulled: [String: ImageRecord] = [:]
    /// Probe progress by container (in memory: a restarted runner probes afresh).
    var probes: [String: ProbeTracker] = [:]
    /// Containers being killed: when SIGKILL follows SIGTERM (ms) and what to record.
    var killing: [String: (deadlineMs: Int64, reason: String)] = [:]
    /// Set by `requestStop` (any thread, a signal handler's service included).
    nonisolated let stopAsked = Mutex(false)
    var stopRequested: Bool {
        get { stopAsked.withLock { $0 } }
        set { stopAsked.withLock { $0 = newValue } }
    }
    /// The phase the pod ends in once stopped: Succeeded/Failed when its containers ended by
    /// themselves, nil (Stopped) when asked to stop.
    var endPhase: PodPhase?
    /// "pod ready" was logged (once per infra generation).
    var announcedReady = false

    /// Opens the pod (its cgroup is `pods/<name>` under the default parent of this process's
    /// cgroup, every container's leaf and the infra's below it): parses nothing (the manifest is given), takes the pod's lock, prepares its
    /// directories, and loads the state a previous runner left (re-adoption) or a new one.
    /// - Throws: `PodError(.busy)` when another runner serves it; `.state`, `.system`.
    public init(manifest: PodManifest, manifestText: String, options: PodRunnerOptions, logger: Logger) throws(PodError) {
        let paths = PodPaths(root: options.root, name: manifest.metadata.name)
        self.manifest = manifest
        self.paths = paths
        self.options = options
        self.logger = logger
        do {
            try FileSystem.makeDirectories(paths.directory, mode: 0o700)
            try FileSystem.makeDirectories(paths.sandboxes, mode: 0o711)
        } catch {
            throw PodError(.system, "pod \(paths.name): \(error)", underlying: error)
        }
        lockFD = try Self.lock(paths)
        do {
            let base = try options.cgroupParent ?? SandboxRuntime(stateRoot: paths.sandboxes).cgroups.parent
            sandboxes = try SandboxRuntime(stateRoot: paths.sandboxes, cgroupParent: base + "/pods/" + paths.name)
            images = try ImageStore(root: options.imageRoot)
        } catch {
            close(lockFD)
            throw PodError(.system, "pod \(paths.name): \(error)", underlying: error)
        }
        let me = getpid()
        let myStart = ProcFS.startTime(of: me) ?? 0
        let names = manifest.spec.initContainers.map(\.name) + manifest.spec.containers.map(\.name)
        var loaded: PodRecord?
        do { loaded = try PodRecord.load(paths) } catch {
            close(lockFD)
            throw error
        }
        // Re-adopt only the same manifest (the kubelet's pod hash): a changed one replaces the pod.
        let sameManifest = (try? FileSystem.readText(paths.manifest, limit: 1 << 20)) == manifestText
        if var previous = loaded, sameManifest, previous.containers.map(\.name) == names, !previous.phase.isFinal {
            previous.runnerPid = me
            previous.runnerStartTime = myStart
            previous.events.append("\(Self.nowMs()) runner \(me) re-adopted the pod")
            record = previous
        } else {
            record = PodRecord(name: paths.name, runnerPid: me, runnerStartTime: myStart, createdAtMs: Self.nowMs(), containers: names)
            let leftovers = sandboxes.list()
            for id in leftovers { try? sandboxes.delete(id, force: true) }
            if !leftovers.isEmpty {
                record.events.append(
                    "\(Self.nowMs()) the manifest changed: the previous pod's sandboxes were removed (\(leftovers.joined(separator: ", ")))"
                )
            }
        }
        do {
            try FileSystem.writeAtomically(paths.manifest, text: manifestText, mode: 0o600)
            try record.save(paths)
        } catch let e as PodError {
            close(lockFD)
            throw e
        } catch {
            close(lockFD)
            throw PodError(.state, "write \(paths.manifest): \(error)", underlying: error)
        }
    }

    deinit { close(lockFD) }

    /// flock(LOCK_EX|LOCK_NB) of runner.lock: one runner per pod.
    static func lock(_ paths: PodPaths) throws(PodError) -> Int32 {
        let fd = open(paths.lock, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw PodError(.system, "\(SystemError("open", paths.lock))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK {
                throw PodError(.busy, "pod \(paths.name) is served by another aegis pod run (\(paths.lock) is locked)")
            }
            throw PodError(.system, "\(SystemError("flock", paths.lock, code: e))")
        }
        return fd
    }

    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Asks the loop to stop the pod (ordered stop) at its next tick.
    public nonisolated func requestStop() { stopAsked.withLock { $0 = true } }

    /// The pod's current record.
    public func currentRecord() -> PodRecord { record }

    /// Runs the pod until it is stopped or ends. Pulls the images first (by each container's
    /// `imagePullPolicy`).
    /// - Throws: `PodError` for a pull that fails or state that can't be written; containers that
    ///   fail to start are retried with back-off instead.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await serve()
        } onGracefulShutdown: {
            self.requestStop()
        }
    }

    /// `run` without the graceful-shutdown hook (SIGTERM through a ServiceGroup calls
    /// `requestStop`).
    public func serve() async throws(PodError) {
        let unsupported = unsupportedProbes()
        guard unsupported.isEmpty else {
            throw PodError(.invalidManifest, "\(unsupported.joined(separator: ", ")): not supported by aegis pod run yet")
        }
        do { try await pullImages() } catch {
            removeIfNeverStarted()
            throw error
        }
        while true {
            if stopRequested || Task.isCancelled {
                await stopPod()
                return
            }
            try tick()
            if record.phase.isFinal { return }
            try? await Task.sleep(for: options.tick)
        }
    }

    /// Appends a line to the pod's events and the log.
    func event(_ text: String) {
        logger.info("\(text)", metadata: ["pod": "\(paths.name)"])
        record.events.append("\(Self.nowMs()) \(text)")
        if record.events.count > PodRecord.maxEvents { record.events.removeFirst(record.events.count - PodRecord.maxEvents) }
    }

    func save() throws(PodError) { try record.save(paths) }

    /// A pod that failed before its infra ever started leaves nothing: its directory goes (a
    /// later `aegis pod run` of the same file starts clean).
    func removeIfNeverStarted() {
        guard record.infraGeneration == 0, record.containers.allSatisfy({ $0.attempt == 0 }) else { return }
        FileSystem.removeTree(paths.directory)
    }
}
