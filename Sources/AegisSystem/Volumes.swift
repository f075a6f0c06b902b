// Volumes.swift — loop devices and detached mounts (CAegisSys volume.c): what a file system in an
// image file needs. A detached mount (fsopen/fsconfig/fsmount) belongs to no mount namespace:
// reading a volume through it changes no mount table.
#if canImport(Glibc)
import Glibc
#endif
import CAegisSys

public enum Volumes {
    /// A loop device bound to a backing file; it detaches itself once `fd` is closed and no mount
    /// of it is left (LO_FLAGS_AUTOCLEAR).
    public struct LoopDevice: Sendable {
        public let fd: Int32
        public let index: Int32
        public var path: String { "/dev/loop\(index)" }
    }

    /// Attaches a free loop device to the open file `backing` (LOOP_CONFIGURE, Linux >= 5.8).
    /// - Throws: `SystemError` (step "attach loop device", `path` for the message).
    public static func attachLoop(_ backing: Int32, readOnly: Bool, path: String) throws(SystemError) -> LoopDevice {
        var index: Int32 = -1
        let fd = aegis_sys_loop_attach(backing, readOnly ? 1 : 0, &index)
        guard fd >= 0 else { throw SystemError("attach loop device", path) }
        return LoopDevice(fd: fd, index: index)
    }

    /// Mounts `fstype` from the block device `source` as a detached mount with nosuid, nodev,
    /// noexec (read-only with `readOnly`); returns the descriptor of its root directory.
    /// - Throws: `SystemError` naming the failed step (fsopen, fsconfig …, fsmount).
    public static func mountDetached(_ fstype: String, source: String, readOnly: Bool) throws(SystemError) -> Int32 {
        var step: UnsafePointer<CChar>? = nil
        let fd = aegis_sys_mount_detached(fstype, source, readOnly ? 1 : 0, &step)
        guard fd >= 0 else { throw SystemError(step.map { String(cString: $0) } ?? "mount", source) }
        return fd
    }
}
