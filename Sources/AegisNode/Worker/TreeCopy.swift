// TreeCopy.swift — copies an agent's output directory out of its work volume onto the node's disk.
// The tree was written by the agent: every name is opened relative to its parent's descriptor,
// without following links (O_NOFOLLOW, openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); only
// regular files and directories are copied, at most 64 levels deep; everything created is new
// (O_EXCL), 0600 files and 0700 directories owned by the node. The copy writes at most the
// volume's size: a sparse file with a huge apparent size (holes cost the agent nothing) is cut
// there, not expanded onto the node's disk.
#if canImport(Glibc)
import Glibc
#endif
import AegisSandbox
import AegisSystem

enum TreeCopy {
    static let maxDepth = 64

    /// What a copy may still create on the node: bytes written and entries (files and
    /// directories). Set from what the agent really used in its volume (allocated blocks, inodes),
    /// so neither sparse files nor hard links are multiplied onto the node's disk.
    struct Budget {
        var bytes: Int64
        var entries: Int64
        var exhausted: Bool { bytes <= 0 || entries <= 0 }
    }

    /// Replaces `destination` with a directory holding `outputDir` copied from the file system
    /// whose root is `rootFD`. A missing output directory copies nothing (the destination is then
    /// an empty work directory).
    /// - Throws: `SandboxError(.system)` naming the step and path.
    /// - Returns: false when the copy stopped at the budget (the rest is not copied).
    @discardableResult
    static func replace(_ destination: String, withOutputsOf rootFD: Int32, outputDir: String, budget: Budget) throws -> Bool {
        var st = stat()
        if lstat(destination, &st) == 0 {
            let old = destination + ".old"
            FileSystem.removeTree(old)
            guard rename(destination, old) == 0 else { throw SandboxError.system("rename", destination) }
            FileSystem.removeTree(old)
        }
        guard mkdir(destination, 0o700) == 0 else { throw SandboxError.system("mkdir", destination) }
        let source = Syscall.openat2(rootFD, outputDir, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, resolve: .strictlyBeneath)
        guard source >= 0 else { return true }
        defer { close(source) }
        let out = open(destination, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard out >= 0 else { throw SandboxError.system("open", destination) }
        defer { close(out) }
        let target = try makeDirectories(outputDir, beneath: out, base: destination)
        defer { close(target) }
        var left = budget
        try copyDirectory(from: source, to: target, path: destination + "/" + outputDir, depth: 0, budget: &left)
        return !left.exhausted
    }

    /// mkdir -p of `relative` beneath `fd`; returns the last directory's fd.
    private static func makeDirectories(_ relative: String, beneath fd: Int32, base: String) throws -> Int32 {
        var current = dup(fd)
        for part in relative.split(separator: "/") where part != "." {
            let name = String(part)
            if mkdirat(current, name, 0o700) != 0 && errno != EEXIST {
                close(current)
                throw SandboxError.system("mkdirat", base + "/" + relative)
            }
            let next = openat(current, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(current)
            guard next >= 0 else { throw SandboxError.system("openat", base + "/" + relative) }
            current = next
        }
        return current
    }

    private static func copyDirectory(from source: Int32, to target: Int32, path: String, depth: Int, budget: inout Budget) throws {
        guard depth < maxDepth, !budget.exhausted else { return }
        let listing = dup(source)
        guard listing >= 0, let d = fdopendir(listing) else { throw SandboxError.system("opendir", path) }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name == "." || name == ".." { continue }
            guard !budget.exhausted else { return }
            var st = stat()
            guard fstatat(source, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                budget.entries -= 1
                try copyFile(name, from: source, to: target, path: path + "/" + name, budget: &budget.bytes)
            case S_IFDIR:
                let sub = openat(source, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard sub >= 0 else { continue }
                defer { close(sub) }
                budget.entries -= 1
                guard mkdirat(target, name, 0o700) == 0 else { throw SandboxError.system("mkdirat", path + "/" + name) }
                let out = openat(target, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard out >= 0 else { throw SandboxError.system("openat", path + "/" + name) }
                defer { close(out) }
                try copyDirectory(from: sub, to: out, path: path + "/" + name, depth: depth + 1, budget: &budget)
            default: continue  // links, devices, FIFOs, sockets: not outputs
            }
        }
    }

    private static func copyFile(_ name: String, from source: Int32, to target: Int32, path: String, budget: inout Int64) throws {
        let input = openat(source, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard input >= 0 else { return }
        defer { close(input) }
        let output = openat(target, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw SandboxError.system("create", path) }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while budget > 0 {
            let want = Int(min(Int64(buffer.count), budget))
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, want) }
            if n < 0 { if errno == EINTR { continue }; throw SandboxError.system("read", path) }
            if n == 0 { break }
            var off = 0
            while off < n {
                let w = buffer[off..<n].withUnsafeBytes { write(output, $0.baseAddress, $0.count) }
                if w < 0 { if errno == EINTR { continue }; throw SandboxError.system("write", path) }
                off += w
            }
            budget -= Int64(n)
        }
    }
}
