// NodeSetup.swift — what every node role shares at start: claiming the data directory (one node
// per data dir, by a lock and its pid file), capability detection for a worker, and the "node up" log line.
import AegisImage
import AegisNode
import AegisProtocol
import Foundation
import Logging
import AegisSystem
import Synchronization

public enum NodeSetup {
    /// Creates the data directory (0711), locks it and writes the pid file. The lock is an
    /// exclusive flock on `<data-dir>/aegis.lock`, held for the process's life (or until
    /// `releaseDataDir`): it works across pid namespaces (a controller restarted in its pod may
    /// get the pid a stale pid file names) and a pid file left by a killed node never blocks.
    /// - Throws: `NodeStartError` when another live node holds the directory (naming its pid).
    static func claimDataDir(_ paths: AegisPaths) throws {
        do {
            try FileSystem.makeDirectories(paths.dataDir, mode: 0o711)
        } catch {
            throw NodeStartError(
                "--data-dir \(paths.dataDir): cannot create \(error.path ?? paths.dataDir): \(error.errno.explained)", underlying: error)
        }
        var st = stat()
        guard stat(paths.dataDir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw NodeStartError("--data-dir \(paths.dataDir): not a directory")
        }
        try lockDataDir(paths)
        do { try "\(getpid())\n".write(toFile: paths.pidFile, atomically: true, encoding: .utf8) } catch {
            releaseDataDir(paths)
            throw NodeStartError("--data-dir \(paths.dataDir): cannot write \(paths.pidFile)", underlying: error)
        }
    }

    /// Open lock files by data dir, for the nodes of this process (tests run several).
    private static let locks = Mutex<[String: Int32]>([:])

    private static func lockDataDir(_ paths: AegisPaths) throws {
        // A second node of this process on the same dir (a test restarting a node it dropped)
        // shares the lock, as the pid file check it replaces allowed.
        if locks.withLock({ $0[paths.dataDir] != nil }) { return }
        let lockPath = paths.dataDir + "/aegis.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw NodeStartError("--data-dir \(paths.dataDir): cannot open \(lockPath): \(Errno.current.explained)", errno: errno)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            close(fd)
            guard e == EWOULDBLOCK else {
                throw NodeStartError("--data-dir \(paths.dataDir): flock \(lockPath): \(Errno(e).explained)", errno: e)
            }
            let pid = (try? String(contentsOfFile: paths.pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            throw NodeStartError("another node (pid \(pid ?? "unknown")) is running with data dir \(paths.dataDir)")
        }
        locks.withLock { $0[paths.dataDir] = fd }
    }

    /// Removes the pid file and drops the lock of a node of this process (a failed start, a stop).
    static func releaseDataDir(_ paths: AegisPaths) {
        guard let fd = locks.withLock({ $0.removeValue(forKey: paths.dataDir) }) else { return }
        if let text = try? String(contentsOfFile: paths.pidFile, encoding: .utf8),
            Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) == getpid()
        {
            unlink(paths.pidFile)
        }
        close(fd)
    }

    /// Detects the worker's capabilities (cgroup controllers as its sandbox runtime sees them,
    /// egress), with the configuration's labels; `detectRoot` reads /proc, /sys and /dev below a
    /// fixture tree in tests.
    static func detect(worker: Worker, configuration c: NodeConfiguration, logger: Logger) async -> NodeCapabilities {
        var options = DetectionOptions(root: c.detectRoot ?? "/", labels: c.labels, allowUnenforcedLimits: c.allowUnenforcedLimits)
        options.cgroupControllersOverride = Array(worker.runtime.cgroups.availableControllers()).sorted()
        var capabilities = await CapabilityDetector(options: options, logger: Logger(label: "aegis.detect")).detect()
        capabilities.isolation.allowUnenforcedLimits = c.allowUnenforcedLimits
        capabilities.network = worker.networkCapability
        capabilities.images = worker.heldImages()
        for w in capabilities.warnings { logger.warning("capability detection", metadata: ["detail": "\(w)"]) }
        return capabilities
    }

    /// Rootfs keys of the images the placements under `dataDir` run from: what `aegis image rm`
    /// and `prune` must keep (`Worker.imagesInUse`).
    public static func imagesInUse(dataDir: String) -> Set<String> { Worker.imagesInUse(paths: AegisPaths(dataDir: dataDir)) }

    /// The node's image store, `<data-dir>/images`.
    /// - Throws: `NodeStartError` when its directories can't be created.
    static func imageStore(_ paths: AegisPaths) throws -> ImageStore {
        do { return try ImageStore(root: paths.images) } catch { throw NodeStartError("image store: \(error)", underlying: error) }
    }

    static func logUp(
        name: String, role: AegisProtocol.NodeRole, paths: AegisPaths, capabilities: NodeCapabilities, worker: Worker, logger: Logger
    ) {
        logger.info(
            "node up",
            metadata: [
                "name": "\(name)", "role": "\(role.rawValue)", "data-dir": "\(paths.dataDir)",
                "cpu": "\(capabilities.cpuMillis)m", "memory": "\(capabilities.memoryBytes)", "gpus": "\(capabilities.gpus.count)",
                "runtimes": "\(capabilities.runtimes.map { "\($0.name) \($0.version)" }.joined(separator: ", "))",
                "cgroup-controllers": "\(capabilities.isolation.cgroupControllers.joined(separator: " "))",
                "egress": "\(worker.networkCapability.egress ? worker.networkCapability.subnet ?? "yes" : "no")",
            ])
    }
}
