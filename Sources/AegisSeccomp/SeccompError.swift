// Errors and errno naming for the seccomp compiler.
import Glibc

/// A seccomp profile that can't be compiled. `field` names the offending part of the OCI config
/// (`linux.seccomp.syscalls[4]`, `linux.seccomp.architectures[1]`, …); `message` says what went
/// wrong, including the libseccomp call and errno name/number when one failed.
///
/// Example: `linux.seccomp.syscalls[4]: seccomp_rule_add(open, SCMP_ACT_ERRNO): EINVAL (22)`.
public struct SeccompError: Error, CustomStringConvertible, Sendable, Equatable {
    public let field: String
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// `"EINVAL (22)"` for errno 22: the symbolic name from glibc's `strerrorname_np` (glibc ≥ 2.32),
/// which Swift's Glibc module does not export without _GNU_SOURCE, so it is looked up with dlsym.
func errnoDescription(_ err: Int32) -> String {
    "\(errnoName(err)) (\(err))"
}

/// The symbolic name of an errno value ("EPERM"), or "errno N" when unknown.
func errnoName(_ err: Int32) -> String {
    if let fn = glibcFunctions.strerrorname, let p = fn(err) { return String(cString: p) }
    return "errno \(err)"
}

/// glibc functions hidden behind _GNU_SOURCE in Swift's Glibc module, resolved once.
struct GlibcFunctions: @unchecked Sendable {
    typealias StrerrornameFn = @convention(c) (Int32) -> UnsafePointer<CChar>?
    typealias MemfdCreateFn = @convention(c) (UnsafePointer<CChar>, UInt32) -> Int32
    let strerrorname: StrerrornameFn?
    let memfdCreate: MemfdCreateFn?

    init() {
        let handle = dlopen(nil, RTLD_NOW)
        func lookup<F>(_ name: String, as: F.Type) -> F? {
            guard let sym = dlsym(handle, name) else { return nil }
            return unsafeBitCast(sym, to: F.self)
        }
        strerrorname = lookup("strerrorname_np", as: StrerrornameFn.self)
        memfdCreate = lookup("memfd_create", as: MemfdCreateFn.self)
    }
}

/// Immutable after initialisation (function pointers only).
let glibcFunctions = GlibcFunctions()

/// MFD_CLOEXEC from <linux/memfd.h>.
let mfdCloexec: UInt32 = 0x0001
