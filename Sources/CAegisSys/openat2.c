// openat2.c — the raw openat2(2) system call (Glibc 2.36 has no wrapper).
#include "aegis_sys.h"
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

int aegis_sys_openat2(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long resolve) {
    struct open_how how = { .flags = (unsigned long long)(unsigned int)flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

_Static_assert(AEGIS_SYS_O_PATH == O_PATH, "AEGIS_SYS_O_PATH must be Linux's O_PATH");
