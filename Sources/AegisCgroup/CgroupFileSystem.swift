#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

/// The file operations the cgroup code performs, so tests can inject failures (EBUSY, a missing
/// `cgroup.kill`) or run the logic against an in-memory hierarchy.
///
/// Every method that fails throws a `.syscall` `CgroupError` carrying the errno the kernel returned.
/// Paths are absolute.
public protocol CgroupFileSystem: Sendable {
    /// Whole content of a (small) file.
    func read(_ path: String) throws(CgroupError) -> String
    /// Writes `value` in one `write(2)` to an existing file (cgroup files are never created).
    func write(_ path: String, _ value: String) throws(CgroupError)
    /// `mkdir(2)` with mode 0755; EEXIST is reported as an error like any other errno.
    func makeDirectory(_ path: String) throws(CgroupError)
    /// `rmdir(2)`.
    func removeDirectory(_ path: String) throws(CgroupError)
    /// Whether the path exists (any file type).
    func exists(_ path: String) -> Bool
}

/// The real file system, through Glibc system calls (open/read/write/mkdir/rmdir/access).
public struct SystemCgroupFileSystem: CgroupFileSystem {
    public init() {}

    public func read(_ path: String) throws(CgroupError) -> String {
        do {
            return try FileSystem.readText(path)
        } catch {
            throw CgroupError.syscall(error.step, path, errno: error.errno.code)
        }
    }

    public func write(_ path: String, _ value: String) throws(CgroupError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw CgroupError.syscall("open", path, errno: errno) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        while true {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n >= 0 {
                if n != bytes.count {
                    // Kernel cgroup files take the whole buffer or fail; a short write is unexpected.
                    throw CgroupError(
                        code: .syscall, path: path, errno: EIO,
                        description: "write \(path): short write (\(n) of \(bytes.count) bytes)")
                }
                return
            }
            let e = errno
            if e == EINTR { continue }
            throw CgroupError.syscall("write", path, errno: e)
        }
    }

    public func makeDirectory(_ path: String) throws(CgroupError) {
        if mkdir(path, 0o755) != 0 { throw CgroupError.syscall("mkdir", path, errno: errno) }
    }

    public func removeDirectory(_ path: String) throws(CgroupError) {
        if rmdir(path) != 0 { throw CgroupError.syscall("rmdir", path, errno: errno) }
    }

    public func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}

// MARK: - Small shared helpers

enum CgroupPath {
    /// Splits a relative or absolute cgroup path into components, rejecting "." and "..".
    static func components(_ path: String) throws(CgroupError) -> [String] {
        let parts = path.split(separator: "/").map(String.init)
        for part in parts where part == "." || part == ".." {
            throw CgroupError(
                code: .invalidArgument, path: path,
                description: "cgroup: path \"\(path)\" must not contain \".\" or \"..\" components")
        }
        return parts
    }

    /// Normalised relative form: no leading/trailing slash, "" for the hierarchy root.
    static func relative(_ path: String) throws(CgroupError) -> String {
        try components(path).joined(separator: "/")
    }

    /// `root` joined with a relative path ("" gives `root`).
    static func join(_ root: String, _ relative: String) -> String {
        if relative.isEmpty { return root }
        if root.hasSuffix("/") { return root + relative }
        return root + "/" + relative
    }

    /// Parent of a normalised relative path ("" for a top-level name).
    static func parent(_ relative: String) -> String {
        guard let slash = relative.lastIndex(of: "/") else { return "" }
        return String(relative[..<slash])
    }
}

/// Whitespace-separated words of a cgroup list file (`cgroup.controllers`, `cgroup.subtree_control`).
func words(_ text: String) -> [String] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
}

/// Parses a flat-keyed file (`key value` per line: memory.events, cpu.stat, cgroup.events).
/// Lines whose value is not an unsigned integer are skipped.
func flatKeyed(_ text: String) -> [String: UInt64] {
    var result: [String: UInt64] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.count == 2, let value = UInt64(parts[1]) { result[String(parts[0])] = value }
    }
    return result
}

func trimmed(_ text: String) -> String {
    var s = Substring(text)
    while let c = s.first, c == " " || c == "\n" || c == "\t" { s.removeFirst() }
    while let c = s.last, c == " " || c == "\n" || c == "\t" { s.removeLast() }
    return String(s)
}

/// Sleeps the calling thread (these are short waits inside synchronous kernel-file protocols).
func sleepFor(_ duration: Duration) {
    var request = duration.timespec
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// EBUSY retry policy for writes and rmdirs the kernel may transiently refuse.
public struct BusyRetry: Sendable, Equatable {
    /// Total attempts (≥ 1).
    public var attempts: Int
    /// Sleep after the first EBUSY; doubled after each further one.
    public var initialDelay: Duration

    public init(attempts: Int, initialDelay: Duration) {
        self.attempts = max(1, attempts)
        self.initialDelay = initialDelay
    }

    /// 5 attempts, 5 ms doubling (≈ 75 ms of sleeping at most).
    public static let `default` = BusyRetry(attempts: 5, initialDelay: .milliseconds(5))

    /// Runs `body`, retrying while it throws an EBUSY `CgroupError`.
    func run<T>(_ body: () throws(CgroupError) -> T) throws(CgroupError) -> T {
        var delay = initialDelay
        var attempt = 1
        while true {
            do {
                return try body()
            } catch {
                guard error.errno == EBUSY, attempt < attempts else { throw error }
                sleepFor(delay)
                delay = delay * 2
                attempt += 1
            }
        }
    }
}
