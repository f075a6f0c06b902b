// child.c — the container process, from the supervisor's go-ahead to execve.
//
// Runs in a forked child of a multithreaded process: raw system calls only (no malloc, no stdio).
// One function per step; every failure sends (step, errno, detail) on the error pipe — and, after
// `start`, on the exec FIFO too — then exits. The order follows runc/crun (see aegis_shim.h).
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <grp.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static int g_err_fd = -1;   // error pipe to the supervisor
static int g_fifo_fd = -1;  // exec FIFO (write side) once `start` opened it

static void fail(int step, const char *detail) __attribute__((noreturn));
static void fail(int step, const char *detail) {
    int err = errno;
    shim_send_error(g_err_fd, step, err, detail);
    shim_send_error(g_fifo_fd, step, err, detail);
    _exit(step == AEGIS_STEP_EXECVE || step == AEGIS_STEP_EXEC_LOOKUP ? 127 : 1);
}

/// rootfs + target into buf (both absolute); fails the step on overflow.
static void join_root(char *buf, size_t size, const char *rootfs, const char *target, int step) {
    shim_strlcpy(buf, rootfs, size);
    if (shim_strlcat(buf, target, size) < 0) { errno = ENAMETOOLONG; fail(step, target); }
}

/// Opens `target` (absolute, container view) inside the rootfs without leaving it, even through
/// symlinks (openat2 RESOLVE_IN_ROOT, Linux ≥ 5.6). Returns an O_PATH fd.
static int open_in_root(int rootfd, const char *target) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const char *rel = target;
    while (*rel == '/') rel++;
    if (!*rel) rel = ".";
    return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
}

static void fd_path(int fd, char buf[64]) {
    char num[24];
    shim_strlcpy(buf, "/proc/self/fd/", 64);
    shim_strlcat(buf, shim_itoa(fd, num), 64);
}

/// Flags a user namespace locks on a mount (nosuid, nodev, noexec, atime, ro): a bind-remount must
/// keep them or the kernel refuses it with EPERM (mount(2), "locked mount flags").
static unsigned long locked_flags(const char *path) {
    struct statvfs st;
    if (statvfs(path, &st) < 0) return 0;
    unsigned long f = 0;
    if (st.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (st.f_flag & ST_NODEV) f |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (st.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME) f |= MS_RELATIME;
    if (st.f_flag & ST_RDONLY) f |= MS_RDONLY;
    return f;
}

static void make_mountpoint(const char *full, int is_file, const char *target) {
    if (!is_file) {
        if (shim_mkdir_p(full) < 0) fail(AEGIS_STEP_MOUNT, target);
        return;
    }
    char dir[4096];
    shim_strlcpy(dir, full, sizeof dir);
    for (size_t i = shim_strlen(dir); i > 1; i--) if (dir[i - 1] == '/') { dir[i - 1] = 0; break; }
    if (shim_mkdir_p(dir) < 0) fail(AEGIS_STEP_MOUNT, target);
    struct stat st;
    if (lstat(full, &st) == 0) return;  // exists (possibly on a read-only bind, e.g. /etc/resolv.conf)
    int fd = open(full, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno != EEXIST && errno != EISDIR) fail(AEGIS_STEP_MOUNT, target);
    if (fd >= 0) close(fd);
}

static void remount_bind(int rootfd, const char *target, unsigned long flags, int in_userns, int step) {
    int fd = open_in_root(rootfd, target);
    if (fd < 0) fail(step, target);
    char p[64];
    fd_path(fd, p);
    if (in_userns) flags |= locked_flags(p);
    if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0) fail(step, target);
    close(fd);
}

static void mount_one(const struct aegis_spawn_config *cfg, int rootfd, const struct aegis_mount *m) {
    char full[4096], p[64];
    int in_userns = (cfg->clone_flags & CLONE_NEWUSER) != 0;
    join_root(full, sizeof full, cfg->rootfs, m->target, AEGIS_STEP_MOUNT);
    make_mountpoint(full, m->target_is_file, m->target);
    int fd = open_in_root(rootfd, m->target);
    if (fd < 0) fail(AEGIS_STEP_MOUNT, m->target);
    fd_path(fd, p);
    if (m->kind == AEGIS_MOUNT_BIND) {
        if (mount(m->source, p, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0) fail(AEGIS_STEP_MOUNT, m->target);
        if (m->remount_flags_needed)
            remount_bind(rootfd, m->target, m->flags & ~(unsigned long)(MS_BIND | MS_REC), in_userns, AEGIS_STEP_MOUNT);
    } else {
        const char *src = m->source ? m->source : m->fstype;
        if (mount(src, p, m->fstype, m->flags, m->data) < 0) {
            // sysfs can't be mounted in a user namespace that doesn't own the network namespace:
            // bind the host's /sys read-only instead (as runc does).
            if (!(errno == EPERM && m->fstype && strcmp(m->fstype, "sysfs") == 0)) fail(AEGIS_STEP_MOUNT, m->target);
            if (mount("/sys", p, NULL, MS_BIND | MS_REC, NULL) < 0) fail(AEGIS_STEP_MOUNT, m->target);
            remount_bind(rootfd, m->target, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, in_userns, AEGIS_STEP_MOUNT);
        }
    }
    if (m->propagation) {
        int fd2 = open_in_root(rootfd, m->target);
        if (fd2 < 0) fail(AEGIS_STEP_MOUNT, m->target);
        fd_path(fd2, p);
        if (mount(NULL, p, NULL, m->propagation, NULL) < 0) fail(AEGIS_STEP_MOUNT, m->target);
        close(fd2);
    }
    close(fd);
}

static void setup_devices(const struct aegis_spawn_config *cfg, int rootfd) {
    char full[4096], p[64];
    for (int i = 0; i < cfg->n_devices; i++) {
        const struct aegis_device *d = &cfg->devices[i];
        join_root(full, sizeof full, cfg->rootfs, d->target, AEGIS_STEP_DEVICES);
        int fd = open(full, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) fail(AEGIS_STEP_DEVICES, d->target);
        close(fd);
        fd = open_in_root(rootfd, d->target);
        if (fd < 0) fail(AEGIS_STEP_DEVICES, d->target);
        fd_path(fd, p);
        if (mount(d->host_path, p, NULL, MS_BIND, NULL) < 0) fail(AEGIS_STEP_DEVICES, d->target);
        close(fd);
    }
    if (!cfg->setup_dev_symlinks) return;
    static const char *const links[][2] = {
        {"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
        {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
        {"pts/ptmx", "/dev/ptmx"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        join_root(full, sizeof full, cfg->rootfs, links[i][1], AEGIS_STEP_DEVICES);
        if (symlink(links[i][0], full) < 0 && errno != EEXIST) fail(AEGIS_STEP_DEVICES, links[i][1]);
    }
}

static void pivot(const struct aegis_spawn_config *cfg) {
    if (chdir(cfg->rootfs) < 0) fail(AEGIS_STEP_PIVOT_ROOT, cfg->rootfs);
    if (syscall(SYS_pivot_root, ".", ".") < 0) fail(AEGIS_STEP_PIVOT_ROOT, cfg->rootfs);
    // The old root is now stacked on "."; keep its unmount from propagating back to the host.
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) fail(AEGIS_STEP_UMOUNT_OLD_ROOT, "/");
    if (umount2(".", MNT_DETACH) < 0) fail(AEGIS_STEP_UMOUNT_OLD_ROOT, "/");
    if (chdir("/") < 0) fail(AEGIS_STEP_PIVOT_ROOT, "/");
}

/// Masked and read-only paths, resolved inside the rootfs before pivot_root (while the checked host
/// /dev/null is still reachable as a bind source). Missing paths are skipped, as with runc.
static void mask_paths(const struct aegis_spawn_config *cfg, int rootfd, int devnull) {
    char src[64], p[64];
    fd_path(devnull, src);
    for (int i = 0; i < cfg->n_masked; i++) {
        const char *path = cfg->masked_paths[i];
        int fd = open_in_root(rootfd, path);
        if (fd < 0) { if (errno == ENOENT) continue; fail(AEGIS_STEP_MASKED_PATH, path); }
        struct stat st;
        if (fstat(fd, &st) < 0) fail(AEGIS_STEP_MASKED_PATH, path);
        fd_path(fd, p);
        int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0")
                                     : mount(src, p, NULL, MS_BIND, NULL);
        if (rc < 0) fail(AEGIS_STEP_MASKED_PATH, path);
        close(fd);
    }
    int in_userns = (cfg->clone_flags & CLONE_NEWUSER) != 0;
    for (int i = 0; i < cfg->n_readonly; i++) {
        const char *path = cfg->readonly_paths[i];
        int fd = open_in_root(rootfd, path);
        if (fd < 0) { if (errno == ENOENT) continue; fail(AEGIS_STEP_READONLY_PATH, path); }
        fd_path(fd, p);
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) fail(AEGIS_STEP_READONLY_PATH, path);
        close(fd);
        remount_bind(rootfd, path, MS_RDONLY, in_userns, AEGIS_STEP_READONLY_PATH);
    }
}

static void setup_filesystem(const struct aegis_spawn_config *cfg, int *devnull_out, int *fifo_out) {
    // Descriptors needed after pivot_root, opened while the host's view is still visible.
    int devnull = open("/dev/null", O_PATH | O_CLOEXEC);
    struct stat st;
    if (devnull < 0 || fstat(devnull, &st) < 0) fail(AEGIS_STEP_DEVNULL_CHECK, "/dev/null");
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3) {
        errno = EINVAL;
        fail(AEGIS_STEP_DEVNULL_CHECK, "/dev/null is not character device 1:3");
    }
    *devnull_out = devnull;
    if (cfg->exec_fifo) {
        *fifo_out = open(cfg->exec_fifo, O_PATH | O_CLOEXEC);
        if (*fifo_out < 0) fail(AEGIS_STEP_EXEC_FIFO, cfg->exec_fifo);
    }
    if (!(cfg->clone_flags & CLONE_NEWNS)) return;  // validation requires a mount namespace for a rootfs change

    unsigned long prop = cfg->root_propagation ? cfg->root_propagation : (MS_PRIVATE | MS_REC);
    if (mount(NULL, "/", NULL, prop, NULL) < 0) fail(AEGIS_STEP_ROOT_PROPAGATION, "/");
    if (mount(cfg->rootfs, cfg->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) fail(AEGIS_STEP_ROOTFS_BIND, cfg->rootfs);
    int rootfd = open(cfg->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) fail(AEGIS_STEP_ROOTFS_BIND, cfg->rootfs);
    for (int i = 0; i < cfg->n_mounts; i++) mount_one(cfg, rootfd, &cfg->mounts[i]);
    setup_devices(cfg, rootfd);
    mask_paths(cfg, rootfd, devnull);
    close(rootfd);
    pivot(cfg);
    if (cfg->root_readonly) {
        unsigned long f = MS_RDONLY | ((cfg->clone_flags & CLONE_NEWUSER) ? locked_flags("/") : 0);
        if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | f, NULL) < 0) fail(AEGIS_STEP_ROOT_READONLY, "/");
    }
}

/// Resolves argv[0] through the spec's PATH (as execvpe would, but with the spec's environment).
static void lookup_exec(const struct aegis_spawn_config *cfg, char *out, size_t size) {
    const char *name = cfg->argv[0];
    struct stat st;
    for (const char *c = name; *c; c++) if (*c == '/') {
        if (stat(name, &st) < 0) fail(AEGIS_STEP_EXEC_LOOKUP, name);
        if (!S_ISREG(st.st_mode) || access(name, X_OK) < 0) { if (!S_ISREG(st.st_mode)) errno = EACCES; fail(AEGIS_STEP_EXEC_LOOKUP, name); }
        shim_strlcpy(out, name, size);
        return;
    }
    const char *path = cfg->path_env ? cfg->path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    int saw_eacces = 0;
    while (*path) {
        const char *end = path;
        while (*end && *end != ':') end++;
        size_t n = (size_t)(end - path);
        if (n > 0 && n + 1 + shim_strlen(name) < size) {
            memcpy(out, path, n);
            out[n] = '/';
            shim_strlcpy(out + n + 1, name, size - n - 1);
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
                if (access(out, X_OK) == 0) return;
                saw_eacces = 1;
            }
        }
        path = *end ? end + 1 : end;
    }
    errno = saw_eacces ? EACCES : ENOENT;
    fail(AEGIS_STEP_EXEC_LOOKUP, name);
}

static void load_seccomp(const struct aegis_spawn_config *cfg) {
    if (!cfg->seccomp_filter) return;
    struct sock_fprog prog = { .len = cfg->seccomp_len, .filter = (struct sock_filter *)cfg->seccomp_filter };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, cfg->seccomp_flags, &prog) < 0) fail(AEGIS_STEP_SECCOMP, "");
}

static void set_credentials(const struct aegis_spawn_config *cfg) {
    char num[24];
    // The bounding set first: dropping needs CAP_SETPCAP, which the later capset may remove.
    for (int c = 0; c <= cfg->last_cap && c < 64; c++) {
        if (cfg->cap_bounding & (1ULL << c)) continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) fail(AEGIS_STEP_CAPBSET_DROP, shim_itoa(c, num));
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail(AEGIS_STEP_KEEPCAPS, "");
    if (!cfg->setgroups_deny) {
        gid_t groups[64];
        int n = cfg->n_additional_gids < 64 ? cfg->n_additional_gids : 64;
        for (int i = 0; i < n; i++) groups[i] = cfg->additional_gids[i];
        if (syscall(SYS_setgroups, n, groups) < 0) fail(AEGIS_STEP_SETGROUPS, "");
    }
    // Raw syscalls: glibc's setres[ug]id wrappers signal every thread (setxid), pointless here.
    if (syscall(SYS_setresgid, cfg->gid, cfg->gid, cfg->gid) < 0) fail(AEGIS_STEP_SETGID, shim_utoa(cfg->gid, num));
    if (syscall(SYS_setresuid, cfg->uid, cfg->uid, cfg->uid) < 0) fail(AEGIS_STEP_SETUID, shim_utoa(cfg->uid, num));
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(cfg->cap_effective >> (32 * i));
        data[i].permitted = (uint32_t)(cfg->cap_permitted >> (32 * i));
        data[i].inheritable = (uint32_t)(cfg->cap_inheritable >> (32 * i));
    }
    if (syscall(SYS_capset, &hdr, data) < 0) fail(AEGIS_STEP_CAPSET, "");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) fail(AEGIS_STEP_AMBIENT, "clear");
    for (int c = 0; c <= cfg->last_cap && c < 64; c++) {
        if (!(cfg->cap_ambient & (1ULL << c))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) fail(AEGIS_STEP_AMBIENT, shim_itoa(c, num));
    }
}

/// A new network namespace has only "lo", and it is down; agents expect localhost to work.
static void loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) fail(AEGIS_STEP_LOOPBACK, "socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    shim_strlcpy(ifr.ifr_name, "lo", sizeof ifr.ifr_name);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) fail(AEGIS_STEP_LOOPBACK, "SIOCGIFFLAGS");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) fail(AEGIS_STEP_LOOPBACK, "SIOCSIFFLAGS");
    close(s);
}

static void setup_stdio(const struct aegis_spawn_config *cfg) {
    int src[3] = { cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd }, tmp[3];
    // Move the sources out of the way first, so that e.g. stdout_fd == 0 can't be clobbered.
    for (int i = 0; i < 3; i++) {
        tmp[i] = src[i] >= 0 ? fcntl(src[i], F_DUPFD_CLOEXEC, 10) : open("/dev/null", O_RDWR | O_CLOEXEC);
        if (tmp[i] < 0) fail(AEGIS_STEP_STDIO, i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(tmp[i], i) < 0) fail(AEGIS_STEP_STDIO, i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
        close(tmp[i]);
    }
}

void shim_child_main(const struct aegis_spawn_config *cfg, const struct shim_child_fds *fds) {
    g_err_fd = fds->err_w;
    char go;
    if (shim_read_all(fds->sync_r, &go, 1) != 1) { errno = EPIPE; fail(AEGIS_STEP_SYNC, "supervisor went away"); }
    close(fds->sync_r);
    if (fds->unshare_cgroupns && unshare(CLONE_NEWCGROUP) < 0) fail(AEGIS_STEP_CGROUP_ATTACH, "unshare(CLONE_NEWCGROUP)");
    if (cfg->clone_flags & CLONE_NEWUSER) {
        // Become root of the new user namespace when the maps allow it (they may not, rootless).
        (void)syscall(SYS_setresgid, 0, 0, 0);
        (void)syscall(SYS_setresuid, 0, 0, 0);
    }
    // Before any mount: sysfs mounted later must show this namespace's interfaces.
    if (cfg->netns_fd >= 0 && setns(cfg->netns_fd, CLONE_NEWNET) < 0) fail(AEGIS_STEP_SETNS_NET, "netns_fd");
    if (setsid() < 0 && errno != EPERM) fail(AEGIS_STEP_SETSID, "");
    setup_stdio(cfg);

    int devnull = -1, fifo_path = -1;
    setup_filesystem(cfg, &devnull, &fifo_path);
    if (cfg->loopback_up) loopback_up();
    if (cfg->hostname && sethostname(cfg->hostname, shim_strlen(cfg->hostname)) < 0) fail(AEGIS_STEP_HOSTNAME, cfg->hostname);
    if (cfg->domainname && setdomainname(cfg->domainname, shim_strlen(cfg->domainname)) < 0) fail(AEGIS_STEP_DOMAINNAME, cfg->domainname);
    for (int i = 0; i < cfg->n_rlimits; i++) {
        struct rlimit rl = { .rlim_cur = cfg->rlimits[i].soft, .rlim_max = cfg->rlimits[i].hard };
        if (setrlimit(cfg->rlimits[i].resource, &rl) < 0) fail(AEGIS_STEP_RLIMIT, cfg->rlimits[i].name);
    }
    if (cfg->cwd && chdir(cfg->cwd) < 0) fail(AEGIS_STEP_CWD, cfg->cwd);
    char exe[4096];
    lookup_exec(cfg, exe, sizeof exe);

    close(devnull);
    int keep[3] = { fds->err_w, fds->status_w, fifo_path };
    if (shim_close_except(keep, 3) < 0) fail(AEGIS_STEP_CLOSE_RANGE, "");

    if (fifo_path >= 0) {
        struct aegis_msg ready;
        memset(&ready, 0, sizeof ready);
        ready.kind = AEGIS_MSG_READY;
        (void)shim_write_all(fds->err_w, &ready, sizeof ready);
        char p[64];
        fd_path(fifo_path, p);
        int w = open(p, O_WRONLY | O_CLOEXEC);  // blocks until `start` opens the FIFO for reading
        if (w < 0) fail(AEGIS_STEP_EXEC_FIFO, "open");
        g_fifo_fd = w;
        close(fifo_path);
        if (shim_write_all(w, "0", 1) < 0) fail(AEGIS_STEP_EXEC_FIFO, "write");
    }

    // Without no_new_privs, an unprivileged process can't install a filter: load it while we still
    // hold CAP_SYS_ADMIN (the filter then has to allow the remaining steps, as with runc).
    if (!cfg->no_new_privs) load_seccomp(cfg);

    if (cfg->use_init) {
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        pid_t agent = fork();
        if (agent < 0) fail(AEGIS_STEP_INIT_FORK, "");
        if (agent > 0) {
            close(fds->err_w);
            if (g_fifo_fd >= 0) close(g_fifo_fd);
            shim_init_loop(agent, fds->status_w);
        }
    }
    if (fds->status_w >= 0) close(fds->status_w);
    shim_reset_signals();
    set_credentials(cfg);
    if (cfg->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(AEGIS_STEP_NO_NEW_PRIVS, "");
    if (cfg->no_new_privs) load_seccomp(cfg);
    execve(exe, (char *const *)cfg->argv, (char *const *)cfg->envp);
    fail(AEGIS_STEP_EXECVE, exe);
}
