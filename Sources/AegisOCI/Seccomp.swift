// OCI runtime spec, config-linux.md "Seccomp": linux.seccomp.

/// `linux.seccomp` (OCI runtime spec, config-linux.md § Seccomp).
public struct LinuxSeccomp: Codable, Sendable, Equatable {
    /// Action for syscalls no rule matches, e.g. "SCMP_ACT_ERRNO".
    public var defaultAction: String
    /// errno returned by a default action of SCMP_ACT_ERRNO / SCMP_ACT_TRACE (default EPERM).
    public var defaultErrnoRet: UInt32?
    /// "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", …
    public var architectures: [String]?
    /// "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW".
    public var flags: [String]?
    public var listenerPath: String?
    public var listenerMetadata: String?
    public var syscalls: [LinuxSyscall]?

    public init(
        defaultAction: String, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil,
        flags: [String]? = nil, listenerPath: String? = nil, listenerMetadata: String? = nil,
        syscalls: [LinuxSyscall]? = nil
    ) {
        self.defaultAction = defaultAction
        self.defaultErrnoRet = defaultErrnoRet
        self.architectures = architectures
        self.flags = flags
        self.listenerPath = listenerPath
        self.listenerMetadata = listenerMetadata
        self.syscalls = syscalls
    }
}

/// One entry of `linux.seccomp.syscalls`.
public struct LinuxSyscall: Codable, Sendable, Equatable {
    public var names: [String]
    public var action: String
    /// errno for SCMP_ACT_ERRNO / SCMP_ACT_TRACE (default EPERM).
    public var errnoRet: UInt32?
    public var args: [LinuxSeccompArg]?

    public init(names: [String], action: String, errnoRet: UInt32? = nil, args: [LinuxSeccompArg]? = nil) {
        self.names = names
        self.action = action
        self.errnoRet = errnoRet
        self.args = args
    }
}

/// An argument comparison: `op` is SCMP_CMP_NE|LT|LE|EQ|GE|GT|MASKED_EQ.
public struct LinuxSeccompArg: Codable, Sendable, Equatable {
    public var index: UInt
    public var value: UInt64
    public var valueTwo: UInt64?
    public var op: String

    public init(index: UInt, value: UInt64, valueTwo: UInt64? = nil, op: String) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}
