// Errno.swift — errno values with their glibc names and texts, and the error every AegisSystem
// call throws: the step, the path and the errno.
#if canImport(Glibc)
import Glibc
#endif
import CAegisSys

/// An errno value. The name comes from glibc's `strerrorname_np` ("ENOENT"), the text from
/// `strerror` ("No such file or directory"); there is no table of our own.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    /// The errno number (positive).
    public let code: Int32

    public init(_ code: Int32) { self.code = code }

    /// The calling thread's errno now. Read it right after the failing call, before anything
    /// else (close, unlink) can overwrite it.
    public static var current: Errno { Errno(Glibc.errno) }

    /// "ENOENT"; "errno" for a number glibc has no name for.
    public var name: String {
        guard let name = aegis_sys_errno_name(code) else { return "errno" }
        return String(cString: name)
    }

    /// strerror(3)'s text: "No such file or directory" (glibc: "Unknown error N" when unknown).
    public var text: String { strerror(code).map { String(cString: $0) } ?? "Unknown error \(code)" }

    /// "ENOENT (2)".
    public var description: String { "\(name) (\(code))" }

    /// "ENOENT (2): No such file or directory".
    public var explained: String { "\(name) (\(code)): \(text)" }
}

/// A failed system call: which step ("open", "rename to", "fsync directory"), on which path (if
/// any) and the errno. `description`: "open /var/lib/aegis/x: ENOENT (2): No such file or directory".
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call or step that failed, as an operator would name it ("mkdir", "openat2").
    public let step: String
    /// The file the call was about; nil for calls without one (memfd_create, pidfd_open of a pid).
    public let path: String?
    public let errno: Errno

    /// - Parameter errno: defaults to the calling thread's errno at the time of the call.
    public init(_ step: String, _ path: String? = nil, errno: Errno = .current) {
        self.step = step
        self.path = path
        self.errno = errno
    }

    public init(_ step: String, _ path: String? = nil, code: Int32) {
        self.init(step, path, errno: Errno(code))
    }

    /// "<step> <path>" or "<step>".
    public var subject: String { path.map { "\(step) \($0)" } ?? step }

    public var description: String { "\(subject): \(errno.explained)" }
}
