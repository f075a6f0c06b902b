// SandboxError.swift — one error type for sandbox operations; its description is the one line an
// operator sees (the cause named: field, file, step, errno).
#if canImport(Glibc)
import Glibc
#endif
import AegisSystem
import CAegisShim

/// A failure of a sandbox operation. `description` names the cause: the spec field, the shim step
/// and errno, or the file involved.
public struct SandboxError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case invalidSpec, invalidID, alreadyExists, notFound, wrongState, step, system, unsupported
    }
    public let kind: Kind
    public let description: String
    /// For `.step`: the shim step name ("pivot_root") and errno.
    public let step: String?
    public let errno: Int32?
    /// The error that caused this one (an OCI validation or a file system error), if any.
    public let underlying: (any Error)?

    public init(_ kind: Kind, _ description: String, step: String? = nil, errno: Int32? = nil, underlying: (any Error)? = nil) {
        self.kind = kind
        self.description = description
        self.step = step
        self.errno = errno
        self.underlying = underlying
    }

    /// Equal in kind, text, step and errno (the underlying error is not compared).
    public static func == (a: SandboxError, b: SandboxError) -> Bool {
        a.kind == b.kind && a.description == b.description && a.step == b.step && a.errno == b.errno
    }

    /// An error reported by the shim: "<step>: <ERRNO> (<n>): <strerror>: <detail>".
    static func shim(_ r: aegis_spawn_result) -> SandboxError {
        shim(step: r.step, err: r.err, detail: r.detail)
    }

    /// The same from the parts of a shim result (any result type carrying step, errno, detail).
    static func shim<Detail>(step stepNumber: Int32, err: Int32, detail rawDetail: Detail) -> SandboxError {
        let step = String(cString: aegis_step_name(stepNumber))
        let detail = withUnsafeBytes(of: rawDetail) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        var text = "\(step): \(Errno(err).explained)"
        if !detail.isEmpty { text += ": \(detail)" }
        return SandboxError(.step, text, step: step, errno: err)
    }

    /// A failed system call: "<what> <path>: ENOENT (2): No such file or directory".
    public static func system(_ what: String, _ path: String? = nil, errno e: Int32 = Glibc.errno) -> SandboxError {
        SandboxError(SystemError(what, path, code: e))
    }

    /// A failed call of the OS layer as `.system`, with the same text and errno.
    public init(_ error: SystemError) {
        self.init(.system, error.description, errno: error.errno.code)
    }

    /// Runs an AegisSystem call, turning its `SystemError` into `SandboxError(.system)`.
    public static func os<T>(_ body: @autoclosure () throws(SystemError) -> T) throws(SandboxError) -> T {
        do { return try body() } catch { throw SandboxError(error) }
    }
}
