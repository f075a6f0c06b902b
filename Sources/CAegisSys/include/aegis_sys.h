// aegis_sys.h — system calls Glibc does not wrap, for modules that must not link the sandbox shim
// (CAegisShim links libseccomp and libcap): the CLI's client library.
#ifndef AEGIS_SYS_H
#define AEGIS_SYS_H

/// RESOLVE_* flags of openat2(2), from <linux/openat2.h>.
#define AEGIS_SYS_RESOLVE_NO_MAGICLINKS 0x02
#define AEGIS_SYS_RESOLVE_NO_SYMLINKS 0x04
#define AEGIS_SYS_RESOLVE_BENEATH 0x08

/// O_PATH (Linux, <asm-generic/fcntl.h>; Swift's Glibc import leaves out this GNU flag): a
/// descriptor that locates a file without opening it for reading (no FIFO blocks, no device opens).
#define AEGIS_SYS_O_PATH 010000000

/// openat2(2) (Linux >= 5.6). `resolve`: AEGIS_SYS_RESOLVE_* flags; RESOLVE_BENEATH fails with
/// EXDEV when the lookup (".." or a symlink, absolute ones included) would leave `dirfd`.
/// Returns the fd, or -1 + errno.
int aegis_sys_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve);

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
