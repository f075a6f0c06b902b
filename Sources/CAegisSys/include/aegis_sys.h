// aegis_sys.h — system calls and GNU functions Swift's Glibc module does not offer, for the OS layer
// (AegisSystem). Plain wrappers: each returns what the call returns, -1 + errno on failure. The
// sandbox shim (CAegisShim) keeps only the clone → execve path, the init and the supervisor.
#ifndef AEGIS_SYS_H
#define AEGIS_SYS_H

#include <sys/types.h>
// Linux headers Swift's Glibc module leaves out, for their types and constants (epoll_event,
// signalfd_siginfo): modules that need them import CAegisSys for nothing else.
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/xattr.h>

/// RESOLVE_* flags of openat2(2), from <linux/openat2.h>.
#define AEGIS_SYS_RESOLVE_NO_XDEV 0x01
#define AEGIS_SYS_RESOLVE_NO_MAGICLINKS 0x02
#define AEGIS_SYS_RESOLVE_NO_SYMLINKS 0x04
#define AEGIS_SYS_RESOLVE_BENEATH 0x08
#define AEGIS_SYS_RESOLVE_IN_ROOT 0x10

/// O_PATH (Linux, <asm-generic/fcntl.h>; Swift's Glibc import leaves out this GNU flag): a
/// descriptor that locates a file without opening it for reading (no FIFO blocks, no device opens).
#define AEGIS_SYS_O_PATH 010000000
/// AT_EMPTY_PATH (<fcntl.h>, a GNU flag): operate on the descriptor itself (linkat of an O_PATH fd).
#define AEGIS_SYS_AT_EMPTY_PATH 0x1000

/// openat2(2) (Linux >= 5.6; Glibc 2.36 has no wrapper). `resolve`: AEGIS_SYS_RESOLVE_* flags;
/// RESOLVE_BENEATH fails with EXDEV when the lookup (".." or a symlink, absolute ones included)
/// would leave `dirfd`. Returns the fd, or -1 + errno.
int aegis_sys_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve);

/// setns(2): joins the namespace of `fd` (calling thread only). -1 + errno.
int aegis_sys_setns(int fd, int nstype);

/// pidfd_open(2) (Linux >= 5.3) and pidfd_send_signal(2) (no info, no flags). -1 + errno.
int aegis_sys_pidfd_open(pid_t pid, unsigned int flags);
int aegis_sys_pidfd_send_signal(int pidfd, int sig);

/// The errno's symbolic name ("ENOENT"), or NULL for a value glibc doesn't know
/// (strerrorname_np, glibc >= 2.32, a GNU function Swift's Glibc module hides).
const char *aegis_sys_errno_name(int err);

/// memfd_create(2) with MFD_CLOEXEC, plus MFD_ALLOW_SEALING when `allow_sealing` is non-zero.
int aegis_sys_memfd_create(const char *name, int allow_sealing);
/// Seals a memfd against writes, growth, shrinking and further sealing (fcntl F_ADD_SEALS).
int aegis_sys_memfd_seal(int fd);
/// 1 when all four seals of aegis_sys_memfd_seal are in place, 0 when not, -1 + errno on failure.
int aegis_sys_memfd_is_sealed(int fd);

/// Number of CPUs in the calling thread's sched_getaffinity(2) mask (CPU_COUNT_S over a mask of
/// up to 8192 CPUs), -1 + errno on failure.
int aegis_sys_affinity_cpu_count(void);

/// Attaches a free loop device to `backing_fd` (LOOP_CONFIGURE, LO_FLAGS_AUTOCLEAR: the device
/// detaches itself when its last user — this fd or a mount of it — goes away). Retries while
/// another process takes the free device first. Returns the loop device's fd (its number in
/// `*index`), or -1 + errno.
int aegis_sys_loop_attach(int backing_fd, int read_only, int *index);

/// Mounts filesystem `fstype` from `source` (a block device path) as a detached mount —
/// fsopen/fsconfig/fsmount; attached to no mount namespace — with nosuid, nodev, noexec (and
/// read-only when `read_only`). Returns the mount's root directory fd, or -1 + errno with the
/// failed step in `*step`.
int aegis_sys_mount_detached(const char *fstype, const char *source, int read_only, const char **step);

#endif
