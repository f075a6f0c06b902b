// WorkVolume.swift — an agent's /work as a file system of its own: an ext4 file system in a sparse
// image file the size of the manifest's `resources.disk` (default `WorkVolume.defaultSizeBytes`, 1 GiB),
// on a loop device, mounted at /work inside the sandbox's mount namespace only. An agent that fills
// it gets ENOSPC; the node's disk holds at most the image's size for it. The image is built by
// mke2fs from the prepared work directory (inputs and output directory, owned by the tenant's
// uid), so the agent starts with exactly what the bind mount gave it before. No mount of the host
// changes: the worker reads the volume back through a detached mount (fsmount), in no namespace.
//
// When the placement ends (`Worker.release`) the output directory is copied out of the image into
// `<workload>/work/<outputDir>` (regular files and directories only, never following a link), the
// image is deleted, and what remains (logs and outputs) is kept for `aegis cp` until the node's
// output retention expires (`Worker.removeExpiredWorkloads`).
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import AegisProtocol
import AegisSandbox
import AegisSystem

/// One placement's work volume: `<workload>/work.g<N>.img` and its note `work.g<N>.json`.
struct WorkVolume: Codable, Equatable {
    /// The placement (generation) the image belongs to.
    var generation: Int64
    /// Where the agent's outputs are, relative to /work (the spec's `outputDir`).
    var outputDir: String
    /// Size of the image (the file system's capacity), bytes.
    var sizeBytes: Int64
    /// Owner of the volume's root directory (the agent's uid and gid).
    var owner: UInt32

    /// The size of /work when the manifest gives none: 1 GiB.
    static let defaultSizeBytes: Int64 = 1 << 30

    static func imagePath(_ workloadDir: String, _ generation: Int64) -> String { workloadDir + "/work.g\(generation).img" }
    static func notePath(_ workloadDir: String, _ generation: Int64) -> String { workloadDir + "/work.g\(generation).json" }

    /// A loop device attached to an image; the device detaches itself once `fd` is closed and the
    /// sandbox's mount of it is gone (LO_FLAGS_AUTOCLEAR).
    typealias Attachment = Volumes.LoopDevice

    /// Admits the volume (`admit`: the node's disk must back it), builds the image from `staging` (its tree, owners and modes) and attaches it
    /// to a loop device. On failure nothing is left (image, note, loop device).
    /// - Throws: `SandboxError(.system)` naming the step and errno, or `.step` for mke2fs's failure
    ///   with its message.
    func create(in workloadDir: String, workloads: String, from staging: String) throws -> Attachment {
        let image = Self.imagePath(workloadDir, generation)
        do {
            try admit(in: workloadDir, workloads: workloads)
            let fd = open(image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw SandboxError.system("open", image) }
            defer { close(fd) }
            guard ftruncate(fd, off_t(sizeBytes)) == 0 else { throw SandboxError.system("ftruncate", image) }
            try Self.makeFileSystem(image: image, from: staging, owner: owner)
            return try SandboxError.os(try Volumes.attachLoop(fd, readOnly: false, path: image))
        } catch {
            Self.remove(in: workloadDir, generation: generation)
            throw error
        }
    }

    /// Why this host can't give sandboxes volumes (no /dev/loop-control, no mke2fs), or nil.
    static func unsupportedReason() -> String? {
        guard access("/dev/loop-control", R_OK | W_OK) == 0 else { return "/dev/loop-control: errno \(errno)" }
        guard mke2fsPath != nil else { return "mke2fs not found in /usr/sbin or /sbin (Debian package e2fsprogs)" }
        return nil
    }

    static var mke2fsPath: String? { ["/usr/sbin/mke2fs", "/sbin/mke2fs"].first { access($0, X_OK) == 0 } }

    /// mke2fs: ext4 without a journal (the volume is scratch: lost with its placement), no blocks
    /// reserved for root, inode tables initialised lazily, populated from `staging` (-d), its root
    /// directory owned by `owner` (mke2fs -d doesn't carry the staging root's owner over).
    static func makeFileSystem(image: String, from staging: String, owner: UInt32) throws {
        let args = [
            "-t", "ext4", "-q", "-F", "-O", "^has_journal", "-m", "0", "-L", "aegis-work",
            "-E", "lazy_itable_init=1,nodiscard,root_owner=\(owner):\(owner)", "-d", staging, image,
        ]
        let exe = mke2fsPath ?? "/usr/sbin/mke2fs"
        let r = CommandRunner.runBlocking(exe, arguments: args, argv0: "mke2fs", timeout: .seconds(60))
        guard r.succeeded else {
            let why = r.stderr.split(separator: "\n").last.map(String.init) ?? "\(r.ending)"
            throw SandboxError(.step, "work volume: mke2fs \(image): \(why)")
        }
    }

    /// Copies the output directory out of the image into `destination` (created afresh, 0700;
    /// whatever was there is removed), then deletes the image and its note. A missing image (an
    /// earlier release did it) is no error.
    /// The copy creates at most what the agent used in the volume (its allocated bytes and inodes:
    /// `TreeCopy.Budget`).
    /// - Returns: false when the outputs were cut at that budget (sparse files, hard links).
    /// - Throws: `SandboxError(.system)` naming the step.
    @discardableResult
    func retainOutputs(in workloadDir: String, destination: String) throws -> Bool {
        let image = Self.imagePath(workloadDir, generation)
        guard access(image, F_OK) == 0 else { Self.remove(in: workloadDir, generation: generation); return true }
        Self.waitUntilDetached(image: image)
        let fd = open(image, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw SandboxError.system("open", image) }
        defer { close(fd) }
        let loop = try SandboxError.os(try Volumes.attachLoop(fd, readOnly: true, path: image))
        defer { close(loop.fd) }
        let mount = try SandboxError.os(try Volumes.mountDetached("ext4", source: loop.path, readOnly: true))
        defer { close(mount) }
        var fs = statvfs()
        guard fstatvfs(mount, &fs) == 0 else { throw SandboxError.system("fstatvfs", image) }
        let usedBytes = Int64(fs.f_blocks - fs.f_bfree) * Int64(fs.f_frsize)
        let usedInodes = Int64(fs.f_files - fs.f_ffree)
        let budget = TreeCopy.Budget(bytes: usedBytes, entries: usedInodes)
        let complete = try TreeCopy.replace(destination, withOutputsOf: mount, outputDir: outputDir, budget: budget)
        Self.remove(in: workloadDir, generation: generation)
        return complete
    }

    /// The sandbox's mount of the image goes away with its last process; its loop device detaches
    /// just after. Waits (up to 2 s) until no loop device is backed by `image`, so the read-only
    /// mount sees everything the agent wrote.
    static func waitUntilDetached(image: String) {
        for _ in 0..<200 {
            guard loopDevicesBacking(image) else { return }
            usleep(10_000)
        }
    }

    /// Whether a loop device (/sys/block/loop*/loop/backing_file) is backed by `path`.
    static func loopDevicesBacking(_ path: String) -> Bool {
        guard let d = opendir("/sys/block") else { return false }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard name.hasPrefix("loop"),
                let data = FileManager.default.contents(atPath: "/sys/block/\(name)/loop/backing_file")
            else { continue }
            if String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) == path { return true }
        }
        return false
    }

    /// Deletes the image and note of `generation` (nothing if they are gone).
    static func remove(in workloadDir: String, generation: Int64) {
        unlink(imagePath(workloadDir, generation))
        unlink(notePath(workloadDir, generation))
    }

    func saveNote(in workloadDir: String) throws {
        let data = try JSONEncoder().encode(self)
        try SandboxError.os(
            try FileSystem.writeAtomically(Self.notePath(workloadDir, generation), Array(data), mode: 0o600, syncDirectory: false))
    }

    /// The note of `generation`'s volume, or nil when that placement had none.
    static func load(from workloadDir: String, generation: Int64) -> WorkVolume? {
        guard let data = FileManager.default.contents(atPath: notePath(workloadDir, generation)),
            let v = try? JSONDecoder().decode(WorkVolume.self, from: data), v.generation == generation
        else { return nil }
        return v
    }
}
