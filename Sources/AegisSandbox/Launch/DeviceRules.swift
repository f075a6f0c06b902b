// DeviceRules.swift — which device nodes a sandbox may open or create, enforced on cgroup v2 by a
// BPF_PROG_TYPE_CGROUP_DEVICE program on its leaf (the shim's devices.c builds and attaches it).
#if canImport(Glibc)
import Glibc
#endif
import AegisOCI
import CAegisShim
import AegisSystem

/// The effective device allowlist of a sandbox (config-linux.md § Device allowlist; runc's order):
/// the spec's `linux.resources.devices` rules, then rwm for each `linux.devices` node the runtime
/// creates, then the default devices every container gets. Later rules win; no match is a deny, so
/// a spec without rules gets the defaults only.
public enum DeviceRules {
    /// Allowed for every sandbox: mknod of any node (opening it is what is checked, as runc), and
    /// read/write/mknod of /dev/null (1:3), zero (1:5), full (1:7), random (1:8), urandom (1:9),
    /// tty (5:0), console (5:1), ptmx (5:2) and the pseudo-terminals (136:*).
    public static let defaultAllowed: [LinuxDeviceCgroup] =
        [
            LinuxDeviceCgroup(allow: true, type: "c", access: "m"),
            LinuxDeviceCgroup(allow: true, type: "b", access: "m"),
        ]
        + [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, -1)].map {
            LinuxDeviceCgroup(allow: true, type: "c", major: $0.0, minor: $0.1, access: "rwm")
        }

    /// An rw rule for the device node at `path` (its type and major:minor from stat(2)), or nil
    /// when it isn't a device node.
    public static func allowRule(forNode path: String) -> LinuxDeviceCgroup? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFCHR || kind == S_IFBLK else { return nil }
        // glibc's encoding of dev_t (sys/sysmacros.h; the macros don't reach Swift).
        let dev = UInt64(st.st_rdev)
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        return LinuxDeviceCgroup(
            allow: true, type: kind == S_IFCHR ? "c" : "b",
            major: Int64(major), minor: Int64(minor), access: "rw")
    }

    /// The rules to enforce, or nil when they grant every device (no program is attached then).
    public static func effective(resources: LinuxResources?, devices: [LinuxDevice]?) -> [LinuxDeviceCgroup]? {
        var rules = resources?.devices ?? []
        for d in devices ?? [] where d.type == "c" || d.type == "b" || d.type == "u" {
            rules.append(LinuxDeviceCgroup(allow: true, type: d.type == "b" ? "b" : "c", major: d.major, minor: d.minor, access: "rwm"))
        }
        rules += defaultAllowed
        // Everything is granted when the last rule matching every device allows, and no rule after
        // it denies anything: no program is needed then.
        if let i = rules.lastIndex(where: \.matchesAllDevices), rules[i].allow, !rules[(i + 1)...].contains(where: { !$0.allow }) {
            return nil
        }
        return rules
    }

    /// Loads the program for `rules` and attaches it to the cgroup directory `cgroupFD`.
    /// - Throws: `SandboxError(.system)` naming linux.resources.devices, the bpf(2) step and errno.
    public static func attach(_ rules: [LinuxDeviceCgroup], cgroupFD: Int32) throws {
        let raw = rules.map { r -> aegis_device_rule in
            var access: UInt32 = 0
            for ch in r.access ?? "rwm" {
                switch ch {
                case "r": access |= UInt32(AEGIS_DEV_ACCESS_READ)
                case "w": access |= UInt32(AEGIS_DEV_ACCESS_WRITE)
                case "m": access |= UInt32(AEGIS_DEV_ACCESS_MKNOD)
                default: break  // validation refused other letters
                }
            }
            if (r.access ?? "").isEmpty { access = UInt32(AEGIS_DEV_ACCESS_ALL) }
            let type: UInt8 = r.type == "b" ? UInt8(ascii: "b") : r.type == "c" ? UInt8(ascii: "c") : UInt8(ascii: "a")
            return aegis_device_rule(
                allow: r.allow ? 1 : 0, type: CChar(bitPattern: type),
                major: r.major ?? -1, minor: r.minor ?? -1, access: access)
        }
        var detail = [CChar](repeating: 0, count: 512)
        let rc = raw.withUnsafeBufferPointer {
            aegis_device_filter_attach(cgroupFD, $0.baseAddress, Int32($0.count), &detail, detail.count)
        }
        guard rc == 0 else {
            let e = errno
            let text = String(decoding: detail.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let call = text.isEmpty ? "bpf" : text
            throw SandboxError(
                .system, "linux.resources.devices: device cgroup program: \(call): \(Errno(e).explained)",
                step: "device cgroup", errno: e)
        }
    }
}
