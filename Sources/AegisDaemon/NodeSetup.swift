// NodeSetup.swift — what every node role shares at start: claiming the data directory (one node
// per data dir, by its pid file), capability detection for a worker, and the "node up" log line.
import AegisImage
import AegisNode
import AegisProtocol
import Foundation
import Logging
import AegisSystem

public enum NodeSetup {
    /// Creates the data directory (0711) and writes the pid file.
    /// - Throws: `NodeStartError` when another live node holds the directory.
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
        if let text = try? String(contentsOfFile: paths.pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid != getpid(), kill(pid, 0) == 0
        {
            throw NodeStartError("another node (pid \(pid)) is running with data dir \(paths.dataDir)")
        }
        do { try "\(getpid())\n".write(toFile: paths.pidFile, atomically: true, encoding: .utf8) } catch {
            throw NodeStartError("--data-dir \(paths.dataDir): cannot write \(paths.pidFile)", underlying: error)
        }
    }

    /// Removes the pid file if it is this process's (a start that failed after claiming the dir).
    static func releaseDataDir(_ paths: AegisPaths) {
        if let text = try? String(contentsOfFile: paths.pidFile, encoding: .utf8),
            Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) == getpid()
        {
            unlink(paths.pidFile)
        }
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
