#if canImport(Glibc)
import Glibc
#endif

/// Locating the cgroup v2 hierarchy and the calling process's place in it.
///
/// Source: kernel Documentation/admin-guide/cgroup-v2.rst ("Mounting", "Processes": the
/// `/proc/$PID/cgroup` line `0::$PATH`) and Documentation/filesystems/proc.rst (mountinfo format).
public enum Cgroup2Hierarchy {
    /// Mount point of the cgroup2 file system, read from a mountinfo file.
    ///
    /// Pure v2 hosts mount it at `/sys/fs/cgroup`, hybrid hosts (v1 controllers + v2) at
    /// `/sys/fs/cgroup/unified`. The first mount whose file-system type (the field after the ` - `
    /// separator) is `cgroup2` wins; octal escapes in the mount point (`\040` for a space) are decoded.
    /// - Throws: `.syscall` when the file cannot be read, `.noCgroup2Mount` when no entry is cgroup2.
    public static func find(mountinfo: String = "/proc/self/mountinfo") throws(CgroupError) -> String {
        let text = try SystemCgroupFileSystem().read(mountinfo)
        return try parseMountinfo(text, source: mountinfo)
    }

    /// `find` on already-read mountinfo text (`source` only names it in the error).
    public static func parseMountinfo(_ text: String, source: String = "mountinfo") throws(CgroupError) -> String {
        for line in text.split(separator: "\n") {
            // id parent major:minor root mount-point options [optional...] - fstype source super-options
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 10 else { continue }
            guard let dash = fields[6...].firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            if fields[dash + 1] == "cgroup2" {
                return unescapeMountField(String(fields[4]))
            }
        }
        throw CgroupError(
            code: .noCgroup2Mount, path: source,
            description: "cgroup: no cgroup2 file system is mounted (no entry of type cgroup2 in \(source))")
    }

    /// Decodes the kernel's `\ooo` octal escapes (space, tab, newline, backslash) in a mountinfo field.
    public static func unescapeMountField(_ field: String) -> String {
        let bytes = Array(field.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        func octal(_ b: UInt8) -> UInt8? { (b >= 0x30 && b <= 0x37) ? b - 0x30 : nil }
        while i < bytes.count {
            if bytes[i] == 0x5C, i + 3 < bytes.count,
                let a = octal(bytes[i + 1]), let b = octal(bytes[i + 2]), let c = octal(bytes[i + 3])
            {
                let value = UInt16(a) * 64 + UInt16(b) * 8 + UInt16(c)
                if value <= 0xFF {
                    out.append(UInt8(value))
                    i += 4
                    continue
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The calling process's cgroup v2 path (the `0::/path` line), e.g. `/` or `/system.slice/x.service`.
    ///
    /// The path is relative to the cgroup2 mount point (for a process in a cgroup namespace, to
    /// the namespace's root).
    /// - Throws: `.syscall` when the file cannot be read, `.noUnifiedEntry` without a `0::` line,
    ///   `.notACgroup` when the kernel marks the cgroup ` (deleted)`.
    public static func ownCgroup(procSelfCgroup: String = "/proc/self/cgroup") throws(CgroupError) -> String {
        let text = try SystemCgroupFileSystem().read(procSelfCgroup)
        return try parseProcCgroup(text, source: procSelfCgroup)
    }

    /// `ownCgroup` on already-read `/proc/<pid>/cgroup` text.
    public static func parseProcCgroup(_ text: String, source: String = "/proc/self/cgroup") throws(CgroupError) -> String {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "0", parts[1].isEmpty else { continue }
            let path = String(parts[2])
            if path.hasSuffix(" (deleted)") {
                throw CgroupError(
                    code: .notACgroup, path: source,
                    description: "cgroup: own cgroup \(path) in \(source) has been deleted")
            }
            guard path.hasPrefix("/") else {
                throw CgroupError(
                    code: .parse, path: source,
                    description: "cgroup: malformed 0:: line \"\(line)\" in \(source)")
            }
            return path
        }
        throw CgroupError(
            code: .noUnifiedEntry, path: source,
            description: "cgroup: no cgroup v2 entry (\"0::/path\") in \(source)")
    }
}
