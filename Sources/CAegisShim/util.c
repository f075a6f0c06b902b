// util.c — small async-signal-safe helpers for the shim (no malloc, no stdio).
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

size_t shim_strlen(const char *s) { size_t n = 0; if (s) while (s[n]) n++; return n; }

void shim_strlcpy(char *dst, const char *src, size_t size) {
    size_t i = 0;
    if (size == 0) return;
    if (src) for (; src[i] && i + 1 < size; i++) dst[i] = src[i];
    dst[i] = 0;
}

int shim_strlcat(char *dst, const char *src, size_t size) {
    size_t n = shim_strlen(dst), i = 0;
    if (!src) return 0;
    for (; src[i]; i++) {
        if (n + 1 >= size) { dst[n] = 0; return -1; }
        dst[n++] = src[i];
    }
    dst[n] = 0;
    return 0;
}

char *shim_utoa(uint64_t v, char *buf) {
    char tmp[24]; int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return buf;
}

char *shim_itoa(int64_t v, char *buf) {
    if (v < 0) { buf[0] = '-'; shim_utoa((uint64_t)(-(v + 1)) + 1, buf + 1); return buf; }
    return shim_utoa((uint64_t)v, buf);
}

int shim_write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; len -= (size_t)w;
    }
    return 0;
}

int shim_read_all(int fd, void *buf, size_t len) {
    char *p = buf; size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, p + got, len - got);
        if (r < 0) { if (errno == EINTR) continue; return -1; }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (int)got;
}

void shim_send_error(int fd, int step, int err, const char *detail) {
    struct aegis_msg m;
    memset(&m, 0, sizeof m);
    m.kind = AEGIS_MSG_ERROR; m.step = step; m.err = err;
    shim_strlcpy(m.detail, detail, sizeof m.detail);
    if (fd >= 0) (void)shim_write_all(fd, &m, sizeof m);
}

int shim_close_except(const int *keep, int n) {
    // Sort the (few) kept descriptors, then close the gaps between them.
    int k[24]; int m = 0;
    for (int i = 0; i < n && m < 24; i++) if (keep[i] >= 3) k[m++] = keep[i];
    for (int i = 1; i < m; i++) for (int j = i; j > 0 && k[j - 1] > k[j]; j--) { int t = k[j]; k[j] = k[j - 1]; k[j - 1] = t; }
    unsigned int from = 3;
    for (int i = 0; i < m; i++) {
        if ((unsigned int)k[i] > from && syscall(SYS_close_range, from, (unsigned int)k[i] - 1, 0) < 0) return -1;
        from = (unsigned int)k[i] + 1;
    }
    return (int)syscall(SYS_close_range, from, ~0U, 0);
}

int shim_mkdir_p(const char *path) {
    char buf[4096];
    size_t n = shim_strlen(path);
    if (n == 0 || n >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
    shim_strlcpy(buf, path, sizeof buf);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i]; buf[i] = 0;
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
            buf[i] = c;
        }
    }
    return 0;
}

int shim_write_file_at(int dirfd, const char *name, const char *text) {
    int fd = openat(dirfd, name, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = shim_write_all(fd, text, shim_strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int shim_write_file(const char *path, const char *text) { return shim_write_file_at(AT_FDCWD, path, text); }

void shim_reset_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        (void)sigaction(s, &sa, NULL);  // fails harmlessly for glibc-reserved RT signals
    }
    sigset_t all;
    sigemptyset(&all);
    (void)sigprocmask(SIG_SETMASK, &all, NULL);
}

static const char *const step_names[AEGIS_STEP_COUNT] = {
    [AEGIS_STEP_NONE] = "none",
    [AEGIS_STEP_PIPE] = "pipe2",
    [AEGIS_STEP_FORK] = "fork",
    [AEGIS_STEP_CLONE3] = "clone3",
    [AEGIS_STEP_CGROUP_ATTACH] = "cgroup.procs",
    [AEGIS_STEP_SETGROUPS_DENY] = "setgroups deny",
    [AEGIS_STEP_UID_MAP] = "uid_map",
    [AEGIS_STEP_GID_MAP] = "gid_map",
    [AEGIS_STEP_SYNC] = "sync",
    [AEGIS_STEP_SETNS_NET] = "setns",
    [AEGIS_STEP_SETSID] = "setsid",
    [AEGIS_STEP_STDIO] = "stdio",
    [AEGIS_STEP_OOM_SCORE_ADJ] = "oom_score_adj",
    [AEGIS_STEP_SYSCTL] = "sysctl",
    [AEGIS_STEP_ROOT_PROPAGATION] = "root propagation",
    [AEGIS_STEP_ROOTFS_BIND] = "rootfs bind",
    [AEGIS_STEP_MOUNT] = "mount",
    [AEGIS_STEP_DEVICES] = "devices",
    [AEGIS_STEP_PIVOT_ROOT] = "pivot_root",
    [AEGIS_STEP_UMOUNT_OLD_ROOT] = "umount old root",
    [AEGIS_STEP_ROOT_READONLY] = "root readonly",
    [AEGIS_STEP_DEVNULL_CHECK] = "/dev/null check",
    [AEGIS_STEP_MASKED_PATH] = "masked path",
    [AEGIS_STEP_READONLY_PATH] = "readonly path",
    [AEGIS_STEP_LOOPBACK] = "loopback up",
    [AEGIS_STEP_HOSTNAME] = "sethostname",
    [AEGIS_STEP_DOMAINNAME] = "setdomainname",
    [AEGIS_STEP_RLIMIT] = "setrlimit",
    [AEGIS_STEP_CLOSE_RANGE] = "close_range",
    [AEGIS_STEP_CWD] = "chdir cwd",
    [AEGIS_STEP_EXEC_LOOKUP] = "exec lookup",
    [AEGIS_STEP_EXEC_FIFO] = "exec fifo",
    [AEGIS_STEP_INIT_FORK] = "init fork",
    [AEGIS_STEP_INIT_EXEC] = "init exec",
    [AEGIS_STEP_CAPBSET_DROP] = "capbset drop",
    [AEGIS_STEP_KEEPCAPS] = "keepcaps",
    [AEGIS_STEP_SETGROUPS] = "setgroups",
    [AEGIS_STEP_SETGID] = "setgid",
    [AEGIS_STEP_SETUID] = "setuid",
    [AEGIS_STEP_CAPSET] = "capset",
    [AEGIS_STEP_AMBIENT] = "ambient caps",
    [AEGIS_STEP_NO_NEW_PRIVS] = "no_new_privs",
    [AEGIS_STEP_SECCOMP] = "seccomp",
    [AEGIS_STEP_EXECVE] = "execve",
    [AEGIS_STEP_SUPERVISOR] = "supervisor",
    [AEGIS_STEP_CGROUP_KILL] = "cgroup.kill",
    [AEGIS_STEP_ROOTFS_MOUNT] = "rootfs mount",
    [AEGIS_STEP_IDMAP] = "idmap",
    [AEGIS_STEP_DUMPABLE] = "dumpable",
    [AEGIS_STEP_CHROOT] = "chroot",
};

const char *aegis_step_name(int step) {
    if (step < 0 || step >= AEGIS_STEP_COUNT || !step_names[step]) return "unknown";
    return step_names[step];
}
