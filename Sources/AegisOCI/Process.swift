// OCI runtime spec v1.0–1.2, config.md § Process (with the Linux process fields).
//
// Note: Foundation also declares a `Process` class; a file importing both Foundation and AegisOCI can
// write `AegisOCI.Process` or the alias `SpecProcess`.

import AegisProtocol

/// Alias for `AegisOCI.Process`, unambiguous next to Foundation's `Process`.
public typealias SpecProcess = Process

/// `process` (config.md § Process).
public struct Process: Codable, Sendable, Equatable {
    /// Attach a pseudo-terminal (AEGIS rejects `true`: stdio is passed through).
    public var terminal: Bool?
    /// Console size in characters (only meaningful with `terminal`).
    public var consoleSize: ConsoleSize?
    /// The user the process runs as. A missing `user` decodes as uid 0, gid 0 (Go's zero value,
    /// as runc reads it).
    public var user: User
    /// argv; `args[0]` is resolved like execvp does (REQUIRED non-empty by AEGIS).
    public var args: [String]?
    /// Windows-only full command line; AEGIS rejects it.
    public var commandLine: String?
    /// Environment, "KEY=VALUE" entries.
    public var env: [String]?
    /// Absolute working directory inside the container. A missing `cwd` decodes as "" (rejected by
    /// `validate()`).
    public var cwd: String
    public var capabilities: LinuxCapabilities?
    public var rlimits: [POSIXRlimit]?
    /// Set PR_SET_NO_NEW_PRIVS before execve.
    public var noNewPrivileges: Bool?
    public var apparmorProfile: String?
    /// /proc/PID/oom_score_adj (-1000…1000); AEGIS does not set it.
    public var oomScoreAdj: Int?
    public var selinuxLabel: String?
    /// ioprio_set class/priority (spec v1.2); never honoured, kept generic.
    public var ioPriority: JSONValue?
    /// sched_setattr policy (spec v1.2); never honoured, kept generic.
    public var scheduler: JSONValue?
    /// CPU affinity for `exec`'d processes (spec v1.2); never honoured, kept generic.
    public var execCPUAffinity: JSONValue?

    public init(
        terminal: Bool? = nil, consoleSize: ConsoleSize? = nil, user: User = User(),
        args: [String]? = nil, commandLine: String? = nil, env: [String]? = nil, cwd: String = "/",
        capabilities: LinuxCapabilities? = nil, rlimits: [POSIXRlimit]? = nil,
        noNewPrivileges: Bool? = nil, apparmorProfile: String? = nil, oomScoreAdj: Int? = nil,
        selinuxLabel: String? = nil, ioPriority: JSONValue? = nil, scheduler: JSONValue? = nil,
        execCPUAffinity: JSONValue? = nil
    ) {
        self.terminal = terminal
        self.consoleSize = consoleSize
        self.user = user
        self.args = args
        self.commandLine = commandLine
        self.env = env
        self.cwd = cwd
        self.capabilities = capabilities
        self.rlimits = rlimits
        self.noNewPrivileges = noNewPrivileges
        self.apparmorProfile = apparmorProfile
        self.oomScoreAdj = oomScoreAdj
        self.selinuxLabel = selinuxLabel
        self.ioPriority = ioPriority
        self.scheduler = scheduler
        self.execCPUAffinity = execCPUAffinity
    }

    private enum CodingKeys: String, CodingKey {
        case terminal, consoleSize, user, args, commandLine, env, cwd, capabilities, rlimits, noNewPrivileges,
            apparmorProfile, oomScoreAdj, selinuxLabel, ioPriority, scheduler, execCPUAffinity
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        terminal = try c.decodeIfPresent(Bool.self, forKey: .terminal)
        consoleSize = try c.decodeIfPresent(ConsoleSize.self, forKey: .consoleSize)
        user = try c.decodeIfPresent(User.self, forKey: .user) ?? User()
        args = try c.decodeIfPresent([String].self, forKey: .args)
        commandLine = try c.decodeIfPresent(String.self, forKey: .commandLine)
        env = try c.decodeIfPresent([String].self, forKey: .env)
        cwd = try c.decodeIfPresent(String.self, forKey: .cwd) ?? ""
        capabilities = try c.decodeIfPresent(LinuxCapabilities.self, forKey: .capabilities)
        rlimits = try c.decodeIfPresent([POSIXRlimit].self, forKey: .rlimits)
        noNewPrivileges = try c.decodeIfPresent(Bool.self, forKey: .noNewPrivileges)
        apparmorProfile = try c.decodeIfPresent(String.self, forKey: .apparmorProfile)
        oomScoreAdj = try c.decodeIfPresent(Int.self, forKey: .oomScoreAdj)
        selinuxLabel = try c.decodeIfPresent(String.self, forKey: .selinuxLabel)
        ioPriority = try c.decodeIfPresent(JSONValue.self, forKey: .ioPriority)
        scheduler = try c.decodeIfPresent(JSONValue.self, forKey: .scheduler)
        execCPUAffinity = try c.decodeIfPresent(JSONValue.self, forKey: .execCPUAffinity)
    }
}

/// `process.consoleSize`: terminal size in characters.
public struct ConsoleSize: Codable, Sendable, Equatable {
    public var height: UInt
    public var width: UInt

    public init(height: UInt, width: UInt) {
        self.height = height
        self.width = width
    }
}

/// `process.user` (config.md § POSIX process user).
public struct User: Codable, Sendable, Equatable {
    /// User ID in the container's user namespace.
    public var uid: UInt32
    public var gid: UInt32
    /// File mode creation mask (e.g. 0o022); nil keeps the inherited umask.
    public var umask: UInt32?
    /// Supplementary group IDs (setgroups).
    public var additionalGids: [UInt32]?
    /// Windows-only user name; ignored on Linux.
    public var username: String?

    public init(
        uid: UInt32 = 0, gid: UInt32 = 0, umask: UInt32? = nil, additionalGids: [UInt32]? = nil,
        username: String? = nil
    ) {
        self.uid = uid
        self.gid = gid
        self.umask = umask
        self.additionalGids = additionalGids
        self.username = username
    }
}

/// `process.capabilities` (config.md § Linux process): capability names such as "CAP_KILL".
public struct LinuxCapabilities: Codable, Sendable, Equatable {
    public var bounding: [String]?
    public var effective: [String]?
    public var inheritable: [String]?
    public var permitted: [String]?
    public var ambient: [String]?

    public init(
        bounding: [String]? = nil, effective: [String]? = nil, inheritable: [String]? = nil,
        permitted: [String]? = nil, ambient: [String]? = nil
    ) {
        self.bounding = bounding
        self.effective = effective
        self.inheritable = inheritable
        self.permitted = permitted
        self.ambient = ambient
    }

    /// The five sets with their JSON key names, in spec order.
    public var sets: [(name: String, capabilities: [String]?)] {
        [
            ("bounding", bounding), ("effective", effective), ("inheritable", inheritable),
            ("permitted", permitted), ("ambient", ambient),
        ]
    }

    /// Capability names by number, 0 (CAP_CHOWN) … 40 (CAP_CHECKPOINT_RESTORE), as in
    /// <linux/capability.h> of Linux 5.9+.
    public static let knownNames: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// The capability number for a name ("CAP_SYS_ADMIN" → 21), or nil if unknown. Exact, upper-case
    /// names only.
    public static func number(of name: String) -> Int? {
        knownNames.firstIndex(of: name)
    }
}

/// One entry of `process.rlimits` (config.md § POSIX process: setrlimit(2)).
public struct POSIXRlimit: Codable, Sendable, Equatable {
    /// "RLIMIT_NOFILE", … (see `POSIXRlimit.knownTypes`).
    public var type: String
    /// Hard limit (rlim_max); 18446744073709551615 is RLIM_INFINITY.
    public var hard: UInt64
    /// Soft limit (rlim_cur); must not exceed `hard`.
    public var soft: UInt64

    public init(type: String, hard: UInt64, soft: UInt64) {
        self.type = type
        self.hard = hard
        self.soft = soft
    }

    /// Linux resource numbers by name (<asm-generic/resource.h>; x86, arm, riscv share these).
    public static let knownTypes: [String: Int32] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
        "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
        "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
        "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]

    /// The resource number for setrlimit/prlimit, or nil if `type` is unknown.
    public var resource: Int32? { Self.knownTypes[type] }
}
