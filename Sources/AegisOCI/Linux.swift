// OCI runtime spec v1.0–1.2, config-linux.md: the `linux` object, namespaces, ID mappings, devices.
// Resources are in Resources.swift, seccomp in Seccomp.swift.

import AegisProtocol

/// `linux` (config-linux.md).
public struct Linux: Codable, Sendable, Equatable {
    /// Namespaces to create (or, with `path`, join). Order is not significant.
    public var namespaces: [LinuxNamespace]?
    /// User-namespace ID mappings, written to /proc/PID/uid_map and gid_map.
    public var uidMappings: [LinuxIDMapping]?
    public var gidMappings: [LinuxIDMapping]?
    /// Kernel parameters to set in the container ("net.ipv4.ip_forward": "1"); AEGIS rejects them.
    public var sysctl: [String: String]?
    /// cgroup limits (config-linux.md § Control groups).
    public var resources: LinuxResources?
    /// cgroup path: absolute (relative to the cgroup root) or relative to the runtime's parent.
    public var cgroupsPath: String?
    public var seccomp: LinuxSeccomp?
    /// Propagation of the rootfs mount: "private", "rprivate", "slave", "rslave", "shared", …
    public var rootfsPropagation: String?
    /// Paths masked with /dev/null (files) or an empty read-only tmpfs (directories).
    public var maskedPaths: [String]?
    /// Paths remounted read-only.
    public var readonlyPaths: [String]?
    public var mountLabel: String?
    /// Intel RDT (resctrl) settings; never honoured, kept generic.
    public var intelRdt: JSONValue?
    /// personality(2) domain and flags; never honoured, kept generic.
    public var personality: JSONValue?
    /// Device nodes to create in the container (config-linux.md § Devices).
    public var devices: [LinuxDevice]?
    /// Time namespace offsets (spec v1.1); never honoured, kept generic.
    public var timeOffsets: JSONValue?
    /// Network devices to move into the container's network namespace (spec v1.2.1); never
    /// honoured, kept generic.
    public var netDevices: JSONValue?

    public init(
        namespaces: [LinuxNamespace]? = nil, uidMappings: [LinuxIDMapping]? = nil,
        gidMappings: [LinuxIDMapping]? = nil, sysctl: [String: String]? = nil,
        resources: LinuxResources? = nil, cgroupsPath: String? = nil, seccomp: LinuxSeccomp? = nil,
        rootfsPropagation: String? = nil, maskedPaths: [String]? = nil, readonlyPaths: [String]? = nil,
        mountLabel: String? = nil, intelRdt: JSONValue? = nil, personality: JSONValue? = nil,
        devices: [LinuxDevice]? = nil, timeOffsets: JSONValue? = nil, netDevices: JSONValue? = nil
    ) {
        self.namespaces = namespaces
        self.uidMappings = uidMappings
        self.gidMappings = gidMappings
        self.sysctl = sysctl
        self.resources = resources
        self.cgroupsPath = cgroupsPath
        self.seccomp = seccomp
        self.rootfsPropagation = rootfsPropagation
        self.maskedPaths = maskedPaths
        self.readonlyPaths = readonlyPaths
        self.mountLabel = mountLabel
        self.intelRdt = intelRdt
        self.personality = personality
        self.devices = devices
        self.timeOffsets = timeOffsets
        self.netDevices = netDevices
    }

    /// True if a namespace of `type` ("user", "mount", …) is listed.
    public func hasNamespace(_ type: String) -> Bool {
        namespaces?.contains { $0.type == type } ?? false
    }
}

/// One entry of `linux.namespaces`.
public struct LinuxNamespace: Codable, Sendable, Equatable {
    /// "pid", "network", "mount", "ipc", "uts", "user", "cgroup" or "time". Kept as a string so an
    /// unknown type is reported by `validate()` with its JSON path rather than failing decoding.
    public var type: String
    /// Join the namespace at this path instead of creating one (AEGIS: network namespaces only).
    public var path: String?

    public init(type: String, path: String? = nil) {
        self.type = type
        self.path = path
    }

    /// The namespace types of config-linux.md § Namespaces with their CLONE_NEW* flags
    /// (<linux/sched.h>).
    public static let cloneFlags: [String: UInt64] = [
        "pid": 0x2000_0000, "network": 0x4000_0000, "mount": 0x0002_0000, "ipc": 0x0800_0000,
        "uts": 0x0400_0000, "user": 0x1000_0000, "cgroup": 0x0200_0000, "time": 0x0000_0080,
    ]

    /// The CLONE_NEW* flag for `type`, or nil if unknown.
    public var cloneFlag: UInt64? { Self.cloneFlags[type] }
}

/// One user-namespace ID mapping: container IDs `containerID ..< containerID+size` map to host IDs
/// `hostID ..< hostID+size` (user_namespaces(7), /proc/PID/uid_map line format).
public struct LinuxIDMapping: Codable, Sendable, Equatable {
    public var containerID: UInt32
    public var hostID: UInt32
    public var size: UInt32

    public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
        self.containerID = containerID
        self.hostID = hostID
        self.size = size
    }
}

/// One entry of `linux.devices`: a device node to create (config-linux.md § Devices).
public struct LinuxDevice: Codable, Sendable, Equatable {
    /// Absolute path inside the container.
    public var path: String
    /// "c", "b", "u" or "p".
    public var type: String
    public var major: Int64?
    public var minor: Int64?
    /// Permission bits of the node (e.g. 0o666).
    public var fileMode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?

    public init(
        path: String, type: String, major: Int64? = nil, minor: Int64? = nil, fileMode: UInt32? = nil,
        uid: UInt32? = nil, gid: UInt32? = nil
    ) {
        self.path = path
        self.type = type
        self.major = major
        self.minor = minor
        self.fileMode = fileMode
        self.uid = uid
        self.gid = gid
    }
}
