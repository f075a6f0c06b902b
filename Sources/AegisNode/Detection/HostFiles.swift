// HostFiles.swift — every file read of capability detection goes through a root prefix, so tests can
// point detection at a committed fixture tree ("<fixture>/proc/meminfo") instead of the real host.

#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

/// A file read that failed: the host path (as the kernel would name it, without the root prefix),
/// the step (`open`, `read`, `opendir`) and the errno.
public struct DetectionFileError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Logical path ("/proc/meminfo"), not prefixed with the detection root.
    public var path: String
    /// "open", "read" or "opendir".
    public var step: String
    public var errno: Int32

    public var description: String {
        "\(step) \(path): \(Errno(errno))"
    }
}

/// Read-only view of a host file system below `root` ("/" for the real host). All paths passed in
/// are absolute host paths ("/sys/bus/pci/devices"); `real(_:)` prefixes them with the root.
struct HostFiles: Sendable {
    let root: String

    init(root: String) {
        var r = root.isEmpty ? "/" : root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
    }

    var isRealHost: Bool { root == "/" }

    /// `root` + `path` ("/tmp/fx" + "/proc/meminfo").
    func real(_ path: String) -> String {
        let p = path.hasPrefix("/") ? path : "/" + path
        return root == "/" ? p : root + p
    }

    /// Whole file as UTF-8 (invalid bytes replaced). sysfs/procfs files report a fake size, so this
    /// reads until EOF rather than trusting st_size. Capped at 1 MiB.
    func read(_ path: String) throws(DetectionFileError) -> String {
        do {
            return try FileSystem.readText(real(path), limit: 1 << 20)
        } catch {
            throw DetectionFileError(path: path, step: error.step, errno: error.errno.code)
        }
    }

    /// `read` with surrounding whitespace removed, nil when unreadable.
    func readTrimmed(_ path: String) -> String? {
        guard let text = try? read(path) else { return nil }
        return trimmed(text)
    }

    /// True when something exists at the path (device nodes in fixtures are empty regular files).
    func exists(_ path: String) -> Bool {
        access(real(path), F_OK) == 0
    }

    func isDirectory(_ path: String) -> Bool {
        var st = stat()
        guard stat(real(path), &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// A regular file (after following symlinks, below the root) the caller may execute.
    func isExecutableFile(_ path: String) -> Bool {
        guard let target = isRealHost ? path : resolve(path) else { return false }
        var st = stat()
        guard stat(real(target), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(real(target), X_OK) == 0
    }

    /// Entry names of a directory, sorted, without "." and "..".
    func list(_ path: String) throws(DetectionFileError) -> [String] {
        guard let dir = opendir(real(path)) else {
            throw DetectionFileError(path: path, step: "opendir", errno: Glibc.errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// `path` (absolute) with every symlink resolved below the root, an absolute link target taken
    /// from the root as it would be inside it; nil when a component is missing or links nest over
    /// 40 deep.
    func resolve(_ path: String) -> String? {
        var pending = path.split(separator: "/").map(String.init)
        var resolved: [String] = []
        var links = 0
        while !pending.isEmpty {
            let part = pending.removeFirst()
            if part == "." { continue }
            if part == ".." { _ = resolved.popLast(); continue }
            let candidate = "/" + (resolved + [part]).joined(separator: "/")
            var st = stat()
            guard lstat(real(candidate), &st) == 0 else { return nil }
            guard (st.st_mode & S_IFMT) == S_IFLNK else { resolved.append(part); continue }
            links += 1
            var buf = [CChar](repeating: 0, count: 4096)
            let n = readlink(real(candidate), &buf, buf.count - 1)
            guard links <= 40, n > 0 else { return nil }
            let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target.hasPrefix("/") { resolved = [] }
            pending = target.split(separator: "/").map(String.init) + pending
        }
        return "/" + resolved.joined(separator: "/")
    }

    /// First executable `name` in the PATH directories (host paths), as a host path. A `name`
    /// containing "/" is taken as a host path itself.
    func which(_ name: String, path: [String]) -> String? {
        if name.contains("/") { return isExecutableFile(name) ? name : nil }
        for dir in path where dir.hasPrefix("/") {
            let candidate = (dir.hasSuffix("/") ? dir : dir + "/") + name
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }
}

/// Removes leading and trailing spaces, tabs and newlines.
func trimmed<S: StringProtocol>(_ s: S) -> String {
    let ws: Set<Character> = [" ", "\t", "\n", "\r"]
    var sub = Substring(s)
    while let f = sub.first, ws.contains(f) { sub.removeFirst() }
    while let l = sub.last, ws.contains(l) { sub.removeLast() }
    return String(sub)
}

/// Splits on runs of spaces/tabs/newlines.
func words<S: StringProtocol>(_ s: S) -> [String] {
    Substring(s).split(whereSeparator: { (c: Character) -> Bool in c == " " || c == "\t" || c == "\n" }).map(String.init)
}

/// glibc functions declared only under _GNU_SOURCE (so not imported by the Glibc module), looked up
/// once with dlsym(RTLD_DEFAULT) and called with the C calling convention.
enum GNUCalls {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32

    static let pipe2: Pipe2? = dlsym(nil, "pipe2").map { unsafeBitCast($0, to: Pipe2.self) }

    /// pipe2(2) with O_CLOEXEC, so concurrent spawns elsewhere in the process never inherit the
    /// ends. Returns 0 or an errno.
    static func cloexecPipe(_ fds: inout [Int32]) -> Int32 {
        guard let pipe2 else { return ENOSYS }
        return fds.withUnsafeMutableBufferPointer { pipe2($0.baseAddress, O_CLOEXEC) } == 0 ? 0 : errno
    }
}
