// OCI runtime spec v1.0–1.2, config.md: the top level of config.json, root, mounts and hooks.
// JSON key names are the spec's exactly (Swift property names match them, so the synthesized
// CodingKeys are the spec's keys). Optional properties are omitted when nil on encoding.
// Unknown keys are ignored on decoding, as config.md § Extensibility requires.

/// The whole `config.json` (OCI runtime spec, config.md).
public struct Spec: Codable, Sendable, Equatable {
    /// SemVer of the spec the bundle follows, e.g. "1.0.2-dev" (REQUIRED).
    public var ociVersion: String
    /// The container process (REQUIRED by AEGIS, see `validate()`).
    public var process: Process?
    /// The container's root filesystem.
    public var root: Root?
    /// Hostname inside the UTS namespace.
    public var hostname: String?
    /// NIS domain name inside the UTS namespace (spec v1.2).
    public var domainname: String?
    /// Additional mounts, performed in order after the rootfs is set up (config.md § Mounts).
    public var mounts: [Mount]?
    /// Lifecycle hooks (config.md § POSIX-platform Hooks); AEGIS rejects them.
    public var hooks: Hooks?
    /// Arbitrary metadata ("org.opencontainers.…" keys are reserved).
    public var annotations: [String: String]?
    /// Linux-specific configuration (config-linux.md).
    public var linux: Linux?

    public init(
        ociVersion: String = Spec.currentVersion, process: Process? = nil, root: Root? = nil,
        hostname: String? = nil, domainname: String? = nil, mounts: [Mount]? = nil,
        hooks: Hooks? = nil, annotations: [String: String]? = nil, linux: Linux? = nil
    ) {
        self.ociVersion = ociVersion
        self.process = process
        self.root = root
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = mounts
        self.hooks = hooks
        self.annotations = annotations
        self.linux = linux
    }

    /// The spec version AEGIS writes into specs it builds and into `state` output.
    public static let currentVersion = "1.2.0"
}

/// `root` (config.md § Root).
public struct Root: Codable, Sendable, Equatable {
    /// Path to the root filesystem; relative paths are relative to the bundle directory.
    public var path: String
    /// Make the root filesystem read-only inside the container.
    public var readonly: Bool?

    public init(path: String, readonly: Bool? = nil) {
        self.path = path
        self.readonly = readonly
    }
}

/// One entry of `mounts` (config.md § Mounts). `type` and `options` are translated to mount(2)
/// arguments by `LinuxMountParameters.parse(type:options:)`.
public struct Mount: Codable, Sendable, Equatable {
    /// Absolute path inside the container (REQUIRED).
    public var destination: String
    /// Filesystem type ("proc", "tmpfs", …); may be absent for bind mounts.
    public var type: String?
    /// Device name, host path for binds, or a dummy such as "proc".
    public var source: String?
    /// mount(8)-style option words ("nosuid", "mode=755", "rbind", …).
    public var options: [String]?
    /// ID-mapped mount mappings (spec v1.1); AEGIS rejects them.
    public var uidMappings: [LinuxIDMapping]?
    public var gidMappings: [LinuxIDMapping]?

    public init(
        destination: String, type: String? = nil, source: String? = nil, options: [String]? = nil,
        uidMappings: [LinuxIDMapping]? = nil, gidMappings: [LinuxIDMapping]? = nil
    ) {
        self.destination = destination
        self.type = type
        self.source = source
        self.options = options
        self.uidMappings = uidMappings
        self.gidMappings = gidMappings
    }
}

/// `hooks` (config.md § POSIX-platform Hooks). Decoded so that their presence can be named; AEGIS
/// runs no hooks and `validate()` rejects any non-empty list.
public struct Hooks: Codable, Sendable, Equatable {
    /// Deprecated in spec v1.0.2 in favour of createRuntime/createContainer/startContainer.
    public var prestart: [Hook]?
    public var createRuntime: [Hook]?
    public var createContainer: [Hook]?
    public var startContainer: [Hook]?
    public var poststart: [Hook]?
    public var poststop: [Hook]?

    public init(
        prestart: [Hook]? = nil, createRuntime: [Hook]? = nil, createContainer: [Hook]? = nil,
        startContainer: [Hook]? = nil, poststart: [Hook]? = nil, poststop: [Hook]? = nil
    ) {
        self.prestart = prestart
        self.createRuntime = createRuntime
        self.createContainer = createContainer
        self.startContainer = startContainer
        self.poststart = poststart
        self.poststop = poststop
    }

    /// The hook lists in lifecycle order, with their JSON key names.
    public var all: [(name: String, hooks: [Hook]?)] {
        [
            ("prestart", prestart), ("createRuntime", createRuntime), ("createContainer", createContainer),
            ("startContainer", startContainer), ("poststart", poststart), ("poststop", poststop),
        ]
    }
}

/// One hook: an executable run by the runtime at a lifecycle point.
public struct Hook: Codable, Sendable, Equatable {
    public var path: String
    public var args: [String]?
    public var env: [String]?
    /// Seconds before the hook is aborted.
    public var timeout: Int?

    public init(path: String, args: [String]? = nil, env: [String]? = nil, timeout: Int? = nil) {
        self.path = path
        self.args = args
        self.env = env
        self.timeout = timeout
    }
}
