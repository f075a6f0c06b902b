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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

void shim_set_error_fd(int fd) { g_err_fd = fd; }

void shim_fail(int step, const char *detail) {
    int err = errno;
    shim_send_error(g_err_fd, step, err, detail);
    shim_send_error(g_fifo_fd, step, err, detail);
    _exit(step == AEGIS_STEP_EXECVE || step == AEGIS_STEP_EXEC_LOOKUP ? 127 : 1);
}

/// Opens `path` (container view, after pivot_root) without following a magic link: absolute paths
/// beneath the container's root (`rootfd`, RESOLVE_IN_ROOT), relative ones from the working
/// directory. After pivot_root the process's root is the container's, so magic links
/// (/proc/self/fd/N, /proc/PID/cwd, /proc/PID/root) are the only way a path could lead out of it.
static int open_in_container(int rootfd, const char *path, int flags) {
    if (path[0] == '/') return shim_open_in_root(rootfd, path, flags);
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
}

/// chdir to process.cwd, resolved inside the container's root only (CVE-2024-21626: a cwd of
/// /proc/self/fd/N must not reach a descriptor of the host). Runs after close_range.
void shim_enter_cwd(const struct aegis_spawn_config *cfg, int rootfd) {
    if (!cfg->cwd) return;
    int fd = shim_open_in_root(rootfd, cfg->cwd, O_PATH | O_DIRECTORY);
    if (fd < 0 || fchdir(fd) < 0) shim_fail(AEGIS_STEP_CWD, cfg->cwd);
    close(fd);
}

/// 1 when `path` is an executable regular file inside the container, 0 when it doesn't exist or
/// isn't one (*eacces set when it exists but isn't executable).
static int exec_candidate(int rootfd, const char *path, int *eacces) {
    int fd = open_in_container(rootfd, path, O_PATH);
    if (fd < 0) return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!ok) return 0;
    if (access(path, X_OK) == 0) return 1;
    *eacces = 1;
    return 0;
}

/// Resolves argv[0] through the spec's PATH (as execvpe would, but with the spec's environment),
/// every candidate looked up inside the container only (see open_in_container).
void shim_lookup_exec(const struct aegis_spawn_config *cfg, int rootfd, char *out, size_t size) {
    const char *name = cfg->argv[0];
    int saw_eacces = 0;
    for (const char *c = name; *c; c++) if (*c == '/') {
        if (!exec_candidate(rootfd, name, &saw_eacces)) {
            if (saw_eacces) errno = EACCES;
            else { int fd = open_in_container(rootfd, name, O_PATH); if (fd >= 0) { close(fd); errno = EACCES; } }
            shim_fail(AEGIS_STEP_EXEC_LOOKUP, name);
        }
        shim_strlcpy(out, name, size);
        return;
    }
    const char *path = cfg->path_env ? cfg->path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    while (*path) {
        const char *end = path;
        while (*end && *end != ':') end++;
        size_t n = (size_t)(end - path);
        if (n > 0 && n + 1 + shim_strlen(name) < size) {
            memcpy(out, path, n);
            out[n] = '/';
            shim_strlcpy(out + n + 1, name, size - n - 1);
            if (exec_candidate(rootfd, out, &saw_eacces)) return;
        }
        path = *end ? end + 1 : end;
    }
    errno = saw_eacces ? EACCES : ENOENT;
    shim_fail(AEGIS_STEP_EXEC_LOOKUP, name);
}

void shim_load_seccomp(const struct aegis_spawn_config *cfg) {
    if (!cfg->seccomp_filter) return;
    struct sock_fprog prog = { .len = cfg->seccomp_len, .filter = (struct sock_filter *)cfg->seccomp_filter };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, cfg->seccomp_flags, &prog) < 0) shim_fail(AEGIS_STEP_SECCOMP, "");
}

void shim_set_credentials(const struct aegis_spawn_config *cfg) {
    char num[24];
    // The bounding set first: dropping needs CAP_SETPCAP, which the later capset may remove.
    for (int c = 0; c <= cfg->last_cap && c < 64; c++) {
        if (cfg->cap_bounding & (1ULL << c)) continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) shim_fail(AEGIS_STEP_CAPBSET_DROP, shim_itoa(c, num));
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) shim_fail(AEGIS_STEP_KEEPCAPS, "");
    if (!cfg->setgroups_deny) {
        gid_t groups[64];
        int n = cfg->n_additional_gids < 64 ? cfg->n_additional_gids : 64;
        for (int i = 0; i < n; i++) groups[i] = cfg->additional_gids[i];
        if (syscall(SYS_setgroups, n, groups) < 0) shim_fail(AEGIS_STEP_SETGROUPS, "");
    }
    // Raw syscalls: glibc's setres[ug]id wrappers signal every thread (setxid), pointless here.
    if (syscall(SYS_setresgid, cfg->gid, cfg->gid, cfg->gid) < 0) shim_fail(AEGIS_STEP_SETGID, shim_utoa(cfg->gid, num));
    if (syscall(SYS_setresuid, cfg->uid, cfg->uid, cfg->uid) < 0) shim_fail(AEGIS_STEP_SETUID, shim_utoa(cfg->uid, num));
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(cfg->cap_effective >> (32 * i));
        data[i].permitted = (uint32_t)(cfg->cap_permitted >> (32 * i));
        data[i].inheritable = (uint32_t)(cfg->cap_inheritable >> (32 * i));
    }
    if (syscall(SYS_capset, &hdr, data) < 0) shim_fail(AEGIS_STEP_CAPSET, "");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) shim_fail(AEGIS_STEP_AMBIENT, "clear");
    for (int c = 0; c <= cfg->last_cap && c < 64; c++) {
        if (!(cfg->cap_ambient & (1ULL << c))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) shim_fail(AEGIS_STEP_AMBIENT, shim_itoa(c, num));
    }
}

/// A new network namespace has only "lo", and it is down; agents expect localhost to work.
static void loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) shim_fail(AEGIS_STEP_LOOPBACK, "socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    shim_strlcpy(ifr.ifr_name, "lo", sizeof ifr.ifr_name);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) shim_fail(AEGIS_STEP_LOOPBACK, "SIOCGIFFLAGS");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) shim_fail(AEGIS_STEP_LOOPBACK, "SIOCSIFFLAGS");
    close(s);
}

void shim_setup_stdio(const struct aegis_spawn_config *cfg) {
    int src[3] = { cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd }, tmp[3];
    // Move the sources out of the way first, so that e.g. stdout_fd == 0 can't be clobbered.
    for (int i = 0; i < 3; i++) {
        tmp[i] = src[i] >= 0 ? fcntl(src[i], F_DUPFD_CLOEXEC, 10) : open("/dev/null", O_RDWR | O_CLOEXEC);
        if (tmp[i] < 0) shim_fail(AEGIS_STEP_STDIO, i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(tmp[i], i) < 0) shim_fail(AEGIS_STEP_STDIO, i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
        close(tmp[i]);
    }
}

/// PID 1 becomes the aegis-init executable (a sealed memfd, `init_fd`), so that nothing of the
/// daemon that spawned the sandbox — its argv, environment, name or mappings — is visible from
/// inside (/proc/1/*). Keeps status_w open for it; never returns. On failure it tells the waiting
/// agent through `gate_w` (one byte) and reports the step.
static void exec_init(const struct aegis_spawn_config *cfg, const struct shim_child_fds *fds, pid_t agent, int gate_w)
    __attribute__((noreturn));
static void exec_init(const struct aegis_spawn_config *cfg, const struct shim_child_fds *fds, pid_t agent, int gate_w) {
    char a[2][24];
    if (fds->status_w >= 0 && fcntl(fds->status_w, F_SETFD, 0) < 0) {
        (void)!write(gate_w, "x", 1);
        shim_fail(AEGIS_STEP_INIT_EXEC, "status fd");
    }
    // The init needs no stdio: closed, it holds no copy of the agent's log pipes (their EOF is the
    // agent's), and nothing it or its runtime might print lands in the agent's stderr.
    (void)syscall(SYS_close_range, 0, 2, 0);
    const char *argv[] = { "aegis-init", shim_itoa(agent, a[0]), shim_itoa(fds->status_w, a[1]), NULL };
    const char *envp[] = { NULL };
    syscall(SYS_execveat, cfg->init_fd, "", argv, envp, AT_EMPTY_PATH);
    int e = errno;
    (void)!write(gate_w, "x", 1);
    errno = e;
    shim_fail(AEGIS_STEP_INIT_EXEC, "execveat aegis-init");
}

/// With an init: the agent is created with a raw clone (no glibc fork: its atfork handlers and the
/// malloc fork lock, which another thread of the daemon may have held when this process was cloned
/// from it, would deadlock here). The parent execs the init; the agent waits until it did (EOF on
/// the gate pipe, whose write end closes on exec) and then continues to execve.
static void start_agent_under_init(const struct aegis_spawn_config *cfg, const struct shim_child_fds *fds) {
    if (cfg->init_fd < 0) { errno = ENOENT; shim_fail(AEGIS_STEP_INIT_EXEC, "no aegis-init executable"); }
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    int gate[2];
    if (pipe2(gate, O_CLOEXEC) < 0) shim_fail(AEGIS_STEP_INIT_FORK, "pipe2");
    pid_t agent = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    if (agent < 0) shim_fail(AEGIS_STEP_INIT_FORK, "clone");
    if (agent > 0) {
        close(gate[0]);
        exec_init(cfg, fds, agent, gate[1]);
    }
    close(gate[1]);
    char b;
    ssize_t r;
    while ((r = read(gate[0], &b, 1)) < 0 && errno == EINTR) {}
    if (r != 0) _exit(1);  // the init could not start; it reported the step
    close(gate[0]);
}

int shim_joins(const struct aegis_spawn_config *cfg, uint64_t type) {
    for (int i = 0; i < cfg->n_join; i++) if (cfg->join_types[i] == type) return 1;
    return 0;
}

/// setns(2) into the namespaces joined by path, user first (it decides what the others allow),
/// mount last; before any mount, so that e.g. sysfs shows the joined network namespace. The pid
/// namespace was joined by the supervisor before clone3.
static void join_namespaces(const struct aegis_spawn_config *cfg) {
    static const struct { uint64_t type; const char *name; } order[] = {
        {CLONE_NEWUSER, "user"}, {CLONE_NEWIPC, "ipc"}, {CLONE_NEWUTS, "uts"}, {CLONE_NEWNET, "network"},
        {CLONE_NEWCGROUP, "cgroup"}, {CLONE_NEWNS, "mount"},
    };
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        for (int i = 0; i < cfg->n_join; i++) {
            if (cfg->join_types[i] != order[k].type) continue;
            if (setns(cfg->join_fds[i], (int)order[k].type) < 0) shim_fail(AEGIS_STEP_SETNS_NET, order[k].name);
            close(cfg->join_fds[i]);
        }
    }
}

void shim_child_main(const struct aegis_spawn_config *cfg, const struct shim_child_fds *fds) {
    g_err_fd = fds->err_w;
    char go;
    if (shim_read_all(fds->sync_r, &go, 1) != 1) { errno = EPIPE; shim_fail(AEGIS_STEP_SYNC, "supervisor went away"); }
    close(fds->sync_r);
    if (fds->unshare_cgroupns && unshare(CLONE_NEWCGROUP) < 0) shim_fail(AEGIS_STEP_CGROUP_ATTACH, "unshare(CLONE_NEWCGROUP)");
    join_namespaces(cfg);
    if ((cfg->clone_flags & CLONE_NEWUSER) || shim_joins(cfg, CLONE_NEWUSER)) {
        // Become root of the user namespace when the maps allow it (they may not, rootless).
        (void)syscall(SYS_setresgid, 0, 0, 0);
        (void)syscall(SYS_setresuid, 0, 0, 0);
    }
    if (setsid() < 0 && errno != EPERM) shim_fail(AEGIS_STEP_SETSID, "");
    shim_setup_stdio(cfg);

    if (cfg->has_oom_score_adj) {
        char num[24];
        if (shim_write_file("/proc/self/oom_score_adj", shim_itoa(cfg->oom_score_adj, num)) < 0) shim_fail(AEGIS_STEP_OOM_SCORE_ADJ, num);
    }
    for (int i = 0; i < cfg->n_sysctl; i++) {
        if (shim_write_file(cfg->sysctl_paths[i], cfg->sysctl_values[i]) < 0) shim_fail(AEGIS_STEP_SYSCTL, cfg->sysctl_paths[i]);
    }

    int devnull = -1, fifo_path = -1;
    shim_setup_filesystem(cfg, &devnull, &fifo_path);
    if (cfg->loopback_up) loopback_up();
    if (cfg->hostname && sethostname(cfg->hostname, shim_strlen(cfg->hostname)) < 0) shim_fail(AEGIS_STEP_HOSTNAME, cfg->hostname);
    if (cfg->domainname && setdomainname(cfg->domainname, shim_strlen(cfg->domainname)) < 0) shim_fail(AEGIS_STEP_DOMAINNAME, cfg->domainname);
    for (int i = 0; i < cfg->n_rlimits; i++) {
        struct rlimit rl = { .rlim_cur = cfg->rlimits[i].soft, .rlim_max = cfg->rlimits[i].hard };
        if (setrlimit(cfg->rlimits[i].resource, &rl) < 0) shim_fail(AEGIS_STEP_RLIMIT, cfg->rlimits[i].name);
    }
    // Close every descriptor the container must not hold before resolving any path the spec
    // controls: a cwd or program of /proc/self/fd/N must find nothing of the host behind N.
    close(devnull);
    int keep[4] = { fds->err_w, fds->status_w, fifo_path, cfg->init_fd };
    if (shim_close_except(keep, 4) < 0) shim_fail(AEGIS_STEP_CLOSE_RANGE, "");
    int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) shim_fail(AEGIS_STEP_CWD, "/");
    shim_enter_cwd(cfg, rootfd);
    char exe[4096];
    shim_lookup_exec(cfg, rootfd, exe, sizeof exe);
    close(rootfd);

    // Without an init the process's identity is final before the exec FIFO, so that a failing
    // setuid or capset is reported by `create`, as runc does. Without no_new_privs the filter is
    // loaded first, while CAP_SYS_ADMIN is still held (it must then allow the remaining steps).
    if (!cfg->use_init) {
        if (!cfg->no_new_privs) shim_load_seccomp(cfg);
        shim_set_credentials(cfg);
    }

    if (fifo_path >= 0) {
        struct aegis_msg ready;
        memset(&ready, 0, sizeof ready);
        ready.kind = AEGIS_MSG_READY;
        (void)shim_write_all(fds->err_w, &ready, sizeof ready);
        const char *name = cfg->exec_fifo;
        for (const char *c = cfg->exec_fifo; *c; c++) if (*c == '/') name = c + 1;
        // From the FIFO's directory (opened before the root changed); blocks until `start` opens
        // the FIFO for reading. The directory's descriptor is closed right after.
        int w = openat(fifo_path, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (w < 0) shim_fail(AEGIS_STEP_EXEC_FIFO, "open");
        g_fifo_fd = w;
        close(fifo_path);
        if (shim_write_all(w, "0", 1) < 0) shim_fail(AEGIS_STEP_EXEC_FIFO, "write");
    }

    if (cfg->use_init) {
        // Without no_new_privs, an unprivileged process can't install a filter: load it while we
        // still hold CAP_SYS_ADMIN (the filter then has to allow the remaining steps, as with runc).
        if (!cfg->no_new_privs) shim_load_seccomp(cfg);
        start_agent_under_init(cfg, fds);
    }
    if (fds->status_w >= 0) close(fds->status_w);
    shim_reset_signals();
    if (cfg->use_init) shim_set_credentials(cfg);
    if (cfg->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) shim_fail(AEGIS_STEP_NO_NEW_PRIVS, "");
    if (cfg->no_new_privs) shim_load_seccomp(cfg);
    execve(exe, (char *const *)cfg->argv, (char *const *)cfg->envp);
    shim_fail(AEGIS_STEP_EXECVE, exe);
}
