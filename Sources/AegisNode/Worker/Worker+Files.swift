// Worker+Files.swift — the files a workload shares with its agent: the working directory with its
// inputs, and the output files read back for `aegis cp` / `describe`. The agent owns these
// directories while it runs and may plant symlinks in them, so everything here resolves paths
// from directory descriptors with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) (Linux >= 5.6)
// and never follows a link out: a link is refused (ELOOP), not resolved on the host.
#if canImport(Glibc)
import Glibc
#endif
import AegisProtocol
import AegisSandbox
import AegisSystem

extension Worker {
    static let beneath = ResolveFlags.strictlyBeneath

    /// A fresh working directory for this placement (`<workload>/work`, 0700, the tenant's uid):
    /// whatever an earlier run of the workload left there — files, symlinks the agent planted —
    /// is removed first (without following links), then the inputs are written into new
    /// directories (O_EXCL, no links followed) and the output directory created.
    /// - Returns: the working directory's path.
    /// - Throws: `SandboxError(.system)` naming the call, path and errno.
    func prepareWorkDirectory(_ a: Assignment) throws -> String {
        let dir = paths.workloadDir(a.workload.id)
        let work = dir + "/work"
        var st = stat()
        if lstat(work, &st) == 0 {
            let old = dir + "/.work-old-\(a.workload.generation)"
            guard rename(work, old) == 0 else { throw SandboxError.system("rename", work) }
            FileSystem.removeTree(old)
        }
        guard mkdir(work, 0o700) == 0 else { throw SandboxError.system("mkdir", work) }
        let fd = open(work, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SandboxError.system("open", work) }
        defer { close(fd) }
        for (path, bytes) in a.workload.spec.inputs.sorted(by: { $0.key < $1.key }) {
            try makeDirectoriesBeneath(fd, parentOf: path, base: work, uid: a.uid)
            let f = Syscall.openat2(fd, path, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode: 0o644, resolve: Self.beneath)
            guard f >= 0 else { throw SandboxError.system("openat2", work + "/" + path) }
            defer { close(f) }
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBytes { write(f, $0.baseAddress, $0.count) }
                if n < 0 { if errno == EINTR { continue }; throw SandboxError.system("write", work + "/" + path) }
                off += n
            }
            guard fchown(f, a.uid, a.uid) == 0 else { throw SandboxError.system("fchown", work + "/" + path) }
        }
        try makeDirectoriesBeneath(fd, parentOf: a.workload.spec.outputDir + "/.", base: work, uid: a.uid)
        guard fchown(fd, a.uid, a.uid) == 0 else { throw SandboxError.system("fchown", work) }
        return work
    }

    /// mkdir -p of every directory above `path`'s last component, below `fd`, owned by `uid`.
    private func makeDirectoriesBeneath(_ fd: Int32, parentOf path: String, base: String, uid: UInt32) throws {
        let parts = path.split(separator: "/").dropLast()
        var prefix = ""
        for p in parts {
            prefix += (prefix.isEmpty ? "" : "/") + p
            if mkdirat(fd, prefix, 0o700) == 0 {
                guard fchownat(fd, prefix, uid, uid, AT_SYMLINK_NOFOLLOW) == 0 else {
                    throw SandboxError.system("fchownat", base + "/" + prefix)
                }
            } else if errno != EEXIST {
                throw SandboxError.system("mkdirat", base + "/" + prefix)
            }
        }
    }

    /// The workload's output directory, opened without following any link: in the running
    /// sandbox's work volume while there is one, else on the node's disk (where `release` copies
    /// the outputs when the placement ends).
    private func openOutputDirectory(workloadID: String, outputDir: String) -> Int32 {
        var work = openLiveWorkVolume(workloadID: workloadID)
        if work < 0 {
            // Just ended: its outputs may still be in the volume (release not called yet) or on
            // their way out of it.
            settleEndedVolumes(workloadID: workloadID)
            work = open(paths.workloadDir(workloadID) + "/work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard work >= 0 else { return -1 }
        defer { close(work) }
        return Syscall.openat2(work, outputDir, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, resolve: Self.beneath)
    }

    /// /work of the workload's running sandbox when it is a work volume (which only the sandbox's
    /// mount namespace has), reached through its init's root (/proc/<pid>/root); -1 when none.
    /// The init's identity (pid + start time) is checked after the open, so a pid reused meanwhile
    /// is never followed into another process's root.
    private func openLiveWorkVolume(workloadID: String) -> Int32 {
        for sid in runtime.list() {
            guard let (wid, generation) = Self.parseSandboxID(sid), wid == workloadID,
                WorkVolume.load(from: paths.workloadDir(wid), generation: generation) != nil,
                let record = try? runtime.record(sid), runtime.status(record) == .running
            else { continue }
            let root = open("/proc/\(record.pid)/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard root >= 0 else { continue }
            defer { close(root) }
            guard runtime.status(record) == .running else { continue }
            let work = Syscall.openat2(
                root, String(AgentProfile.workMount.dropFirst()), flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, resolve: Self.beneath)
            if work >= 0 { return work }
        }
        return -1
    }

    /// Relative paths of the regular files under the workload's output directory (symlinks and
    /// other special files are not listed; directories are walked by descriptor).
    public func outputs(workloadID: String, outputDir: String) -> [String] {
        let root = openOutputDirectory(workloadID: workloadID, outputDir: outputDir)
        guard root >= 0 else { return [] }
        var out: [String] = []
        func walk(_ fd: Int32, _ rel: String, depth: Int) {
            guard depth < 64, let d = fdopendir(fd) else { close(fd); return }
            defer { closedir(d) }
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if name == "." || name == ".." { continue }
                var st = stat()
                guard fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                let r = rel.isEmpty ? name : rel + "/" + name
                if (st.st_mode & S_IFMT) == S_IFREG {
                    out.append(r)
                } else if (st.st_mode & S_IFMT) == S_IFDIR {
                    let sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    if sub >= 0 { walk(sub, r, depth: depth + 1) }
                }
            }
        }
        walk(root, "", depth: 0)
        return out.sorted()
    }

    /// Bytes of an output file. The path must stay inside the output directory: it is opened with
    /// openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS from the output directory (itself opened the
    /// same way), so neither ".." nor a symlink anywhere on the path — planted by the agent before
    /// or during the read — leads out of it.
    /// - Throws: `SandboxError(.invalidSpec)` for an absolute or escaping path,
    ///   `SandboxError(.notFound)` when there is no such regular file (or a link is on the path),
    ///   `SandboxError(.unsupported)` for a file above `maxWholeOutputBytes` (the read is held in
    ///   memory: a sparse file costs an agent nothing and could have any size).
    public func readOutput(workloadID: String, outputDir: String, path: String) throws -> [UInt8] {
        let limit = Self.maxWholeOutputBytes
        let read = try readOutput(workloadID: workloadID, outputDir: outputDir, path: path, offset: 0, maxBytes: limit + 1)
        guard read.size <= Int64(limit) else {
            throw SandboxError(.unsupported, "output \(path) is \(read.size) bytes: above the \(limit >> 20) MiB one read holds in memory")
        }
        return read.bytes
    }

    /// Largest output file read whole (an in-process worker's `aegis cp`): 1 GiB.
    public static let maxWholeOutputBytes = 1 << 30

    /// Up to `maxBytes` of an output file from `offset`, and the file's size (for transfers in
    /// chunks over a worker's session). Same confinement and errors as `readOutput(workloadID:outputDir:path:)`.
    public func readOutput(
        workloadID: String, outputDir: String, path: String, offset: Int64,
        maxBytes: Int
    ) throws -> (bytes: [UInt8], size: Int64) {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
            throw SandboxError(.invalidSpec, "path \"\(path)\": must be relative and stay inside \(outputDir)")
        }
        let root = openOutputDirectory(workloadID: workloadID, outputDir: outputDir)
        guard root >= 0 else { throw SandboxError(.notFound, "no output directory \(outputDir) (\(Errno.current.explained))") }
        defer { close(root) }
        let fd = Syscall.openat2(root, path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, resolve: Self.beneath)
        guard fd >= 0 else { throw SandboxError(.notFound, "no output file \"\(path)\" (\(Errno.current.explained))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw SandboxError(.notFound, "no output file \"\(path)\" (not a regular file)")
        }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        var at = off_t(max(0, offset))
        while bytes.count < maxBytes {
            let want = min(buf.count, maxBytes - bytes.count)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, at) }
            if n < 0 { if errno == EINTR { continue }; throw SandboxError.system("read", path) }
            if n == 0 { break }
            bytes += buf[0..<n]
            at += off_t(n)
        }
        return (bytes, Int64(st.st_size))
    }
}
