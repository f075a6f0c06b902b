// Syscall.swift — the Linux system calls Glibc has no Swift-visible wrapper for (pidfd, openat2,
// memfd, sched_getaffinity's CPU count), through CAegisSys. Like Glibc's own functions they return -1 and set errno on failure,
// so call sites check and name the failure the way they do for open(2).
#if canImport(Glibc)
import Glibc
#endif
import CAegisSys

/// RESOLVE_* flags of openat2(2) (<linux/openat2.h>).
public struct ResolveFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Refuse to cross a mount point (EXDEV).
    public static let noXDev = ResolveFlags(rawValue: UInt64(AEGIS_SYS_RESOLVE_NO_XDEV))
    /// Refuse /proc magic links (/proc/PID/fd/N, /proc/PID/root) (ELOOP).
    public static let noMagicLinks = ResolveFlags(rawValue: UInt64(AEGIS_SYS_RESOLVE_NO_MAGICLINKS))
    /// Refuse every symlink on the way, the last component included (ELOOP).
    public static let noSymlinks = ResolveFlags(rawValue: UInt64(AEGIS_SYS_RESOLVE_NO_SYMLINKS))
    /// Keep the lookup below the directory descriptor: "..", absolute paths and symlinks that
    /// would leave it fail with EXDEV.
    public static let beneath = ResolveFlags(rawValue: UInt64(AEGIS_SYS_RESOLVE_BENEATH))
    /// Treat the directory as "/" for the lookup: "..", absolute paths and absolute symlinks
    /// resolve inside it, as they would for a process chrooted there (image rootfs content).
    public static let inRoot = ResolveFlags(rawValue: UInt64(AEGIS_SYS_RESOLVE_IN_ROOT))

    /// Below the directory, no symlinks of any kind: the set for directories an untrusted
    /// process can write to.
    public static let strictlyBeneath: ResolveFlags = [.beneath, .noSymlinks, .noMagicLinks]
}

/// Raw wrappers of system calls Glibc 2.36 does not wrap. Each returns what the kernel returns:
/// a descriptor or 0, or -1 with errno set.
public enum Syscall {
    /// O_PATH (Swift's Glibc import leaves out this GNU flag): a descriptor that locates a file
    /// without opening it (no FIFO blocks, no device opens).
    public static let O_PATH = Int32(AEGIS_SYS_O_PATH)
    /// AT_EMPTY_PATH (GNU): the *at call acts on the descriptor itself, e.g. linkat(2) of an O_PATH
    /// descriptor (needs CAP_DAC_READ_SEARCH).
    public static let AT_EMPTY_PATH = Int32(AEGIS_SYS_AT_EMPTY_PATH)

    /// fsetxattr(2) (declared in <sys/xattr.h>, which Swift's Glibc module does not include).
    public static func setExtendedAttribute(_ fd: Int32, _ name: String, _ value: UnsafeRawBufferPointer) -> Int32 {
        fsetxattr(fd, name, value.baseAddress, value.count, 0)
    }

    /// openat2(2) (Linux >= 5.6): `path` relative to `directory` (a descriptor) under `resolve`.
    /// `flags` are open(2)'s; `mode` applies with O_CREAT.
    public static func openat2(
        _ directory: Int32, _ path: String, flags: Int32, mode: mode_t = 0,
        resolve: ResolveFlags
    ) -> Int32 {
        aegis_sys_openat2(directory, path, flags, mode, resolve.rawValue)
    }

    /// setns(2): the calling thread joins the namespace `fd` refers to (`nstype` a CLONE_NEW* flag
    /// or 0). Only the calling thread changes: run it on a thread of its own.
    public static func setns(_ fd: Int32, _ nstype: Int32) -> Int32 { aegis_sys_setns(fd, nstype) }

    /// pidfd_open(2) (Linux >= 5.3): a descriptor that refers to process `pid` and becomes
    /// readable (POLLIN) when it exits; it never refers to a later process that reuses the pid.
    public static func pidfdOpen(_ pid: pid_t) -> Int32 { aegis_sys_pidfd_open(pid, 0) }

    /// pidfd_send_signal(2): sends `signal` to the process of `pidfd` (no siginfo, no flags).
    public static func pidfdSendSignal(_ pidfd: Int32, _ signal: Int32) -> Int32 {
        aegis_sys_pidfd_send_signal(pidfd, signal)
    }

    /// memfd_create(2) with MFD_CLOEXEC (and MFD_ALLOW_SEALING when `allowSealing`).
    public static func memfdCreate(_ name: String, allowSealing: Bool) -> Int32 {
        aegis_sys_memfd_create(name, allowSealing ? 1 : 0)
    }

    /// Seals a memfd against writes, growth, shrinking and further sealing (F_ADD_SEALS).
    public static func memfdSeal(_ fd: Int32) -> Int32 { aegis_sys_memfd_seal(fd) }

    /// True when all four seals of `memfdSeal` are in place.
    public static func memfdIsSealed(_ fd: Int32) -> Bool { aegis_sys_memfd_is_sealed(fd) == 1 }

    /// How many CPUs the calling thread may run on: its sched_getaffinity(2) mask (what `taskset`
    /// and a cpuset restrict; not CFS quotas).
    /// - Throws: `SystemError` with the errno.
    public static func affinityCPUCount() throws(SystemError) -> Int {
        let count = aegis_sys_affinity_cpu_count()
        if count < 0 { throw SystemError("sched_getaffinity") }
        return Int(count)
    }
}
