// sys.c — system calls Glibc 2.36 has no wrapper for, and GNU functions behind _GNU_SOURCE.
#include "aegis_sys.h"
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int aegis_sys_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve) {
    struct open_how how = { .flags = (unsigned long long)(unsigned int)flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int aegis_sys_setns(int fd, int nstype) { return (int)syscall(SYS_setns, fd, nstype); }

int aegis_sys_pidfd_open(pid_t pid, unsigned int flags) { return (int)syscall(SYS_pidfd_open, pid, flags); }

int aegis_sys_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

const char *aegis_sys_errno_name(int err) { return strerrorname_np(err); }

int aegis_sys_memfd_create(const char *name, int allow_sealing) {
    return memfd_create(name, MFD_CLOEXEC | (allow_sealing ? MFD_ALLOW_SEALING : 0));
}

static const int all_seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

int aegis_sys_memfd_seal(int fd) { return fcntl(fd, F_ADD_SEALS, all_seals); }

int aegis_sys_memfd_is_sealed(int fd) {
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0) return -1;
    return (seals & all_seals) == all_seals;
}

_Static_assert(AEGIS_SYS_O_PATH == O_PATH, "AEGIS_SYS_O_PATH must be Linux's O_PATH");
_Static_assert(AEGIS_SYS_RESOLVE_BENEATH == RESOLVE_BENEATH, "RESOLVE_BENEATH");
_Static_assert(AEGIS_SYS_RESOLVE_IN_ROOT == RESOLVE_IN_ROOT, "RESOLVE_IN_ROOT");
_Static_assert(AEGIS_SYS_AT_EMPTY_PATH == AT_EMPTY_PATH, "AT_EMPTY_PATH");
_Static_assert(AEGIS_SYS_RESOLVE_NO_SYMLINKS == RESOLVE_NO_SYMLINKS, "RESOLVE_NO_SYMLINKS");
_Static_assert(AEGIS_SYS_RESOLVE_NO_MAGICLINKS == RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS");
_Static_assert(AEGIS_SYS_RESOLVE_NO_XDEV == RESOLVE_NO_XDEV, "RESOLVE_NO_XDEV");

int aegis_sys_affinity_cpu_count(void) {
    // 8192 CPUs: the kernel refuses (EINVAL) only a mask smaller than nr_cpu_ids.
    enum { max_cpus = 8192 };
    size_t size = CPU_ALLOC_SIZE(max_cpus);
    cpu_set_t *set = CPU_ALLOC(max_cpus);
    if (set == NULL) return -1;
    CPU_ZERO_S(size, set);
    int count = -1;
    if (sched_getaffinity(0, size, set) == 0) count = CPU_COUNT_S(size, set);
    CPU_FREE(set);
    return count;
}
