// Errors of the seccomp compiler.

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
