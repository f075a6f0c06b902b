#if canImport(Glibc)
import Glibc
#endif
import AegisSystem

/// The one error type of `AegisCgroup`.
///
/// `description` is a single line naming the cause: the operation, the file, and for system-call
/// failures the errno name and number, e.g.
/// `write /sys/fs/cgroup/unified/aegis/x/memory.max: EACCES (13)`.
public struct CgroupError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of failure this is; lets callers branch without parsing `description`.
    public enum Code: String, Sendable, Equatable {
        /// A system call on a cgroup file or directory failed (`errno` is set).
        case syscall
        /// No `cgroup2` entry in mountinfo.
        case noCgroup2Mount
        /// No `0::/path` line in /proc/self/cgroup (the process is not in a cgroup v2 hierarchy).
        case noUnifiedEntry
        /// A limit was requested whose controller is not listed in an ancestor's `cgroup.controllers`.
        case controllerUnavailable
        /// A leaf with this id already exists.
        case duplicate
        /// A caller-supplied argument (id, path, limit value) is not acceptable.
        case invalidArgument
        /// A path is not a directory of the cgroup2 hierarchy this manager owns.
        case notACgroup
        /// The cgroup directory does not exist (e.g. `open(existingPath:)` of a leaf already removed).
        case notFound
        /// A kernel state change (unpopulated, frozen) did not happen within the timeout.
        case timeout
        /// A cgroup or proc file had content this module could not parse.
        case parse
    }

    public let code: Code
    /// The file or directory concerned, when there is one.
    public let path: String?
    /// The errno of the failed system call (`code == .syscall`).
    public let errno: Int32?
    public let description: String

    public init(code: Code, path: String?, errno: Int32? = nil, description: String) {
        self.code = code
        self.path = path
        self.errno = errno
        self.description = description
    }

    /// A failed system call: `"<op> <path>: <ENAME> (<n>)"`, plus `" — <hint>"` when given.
    public static func syscall(_ operation: String, _ path: String, errno: Int32, hint: String? = nil) -> CgroupError {
        var text = "\(operation) \(path): \(Errno(errno))"
        if let hint { text += " — \(hint)" }
        return CgroupError(code: .syscall, path: path, errno: errno, description: text)
    }

    /// Same error with a hint appended to the description (used to explain EBUSY and similar).
    func adding(hint: String) -> CgroupError {
        CgroupError(code: code, path: path, errno: errno, description: description + " — " + hint)
    }
}
