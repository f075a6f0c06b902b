// exec.c — aegis_exec_start: a further process inside a running sandbox (runc exec), from the
// caller's clone to execve. See aegis_shim.h for the two processes and their steps.
//
// The joiner is a copy of the (multithreaded) caller: raw system calls and the shim's own helpers
// only. The process steps (stdio, cwd, exec lookup, credentials, seccomp) are child.c's, so an
// exec'd process is confined by the very same code as the container's own process. One function
// per step; every failure reports (step, errno, detail) on the error pipe and exits.
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/// Names of the namespaces of `flags`, for the setns step's detail ("user,mnt,pid,…").
static void ns_names(uint64_t flags, char *out, size_t size) {
    static const struct { uint64_t type; const char *name; } names[] = {
        {CLONE_NEWUSER, "user"}, {CLONE_NEWNS, "mnt"}, {CLONE_NEWPID, "pid"}, {CLONE_NEWIPC, "ipc"},
        {CLONE_NEWUTS, "uts"}, {CLONE_NEWNET, "net"}, {CLONE_NEWCGROUP, "cgroup"},
    };
    out[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(flags & names[i].type)) continue;
        if (out[0]) shim_strlcat(out, ",", size);
        shim_strlcat(out, names[i].name, size);
    }
}

/// Non-dumpable until execve (which sets it again from the new credentials): processes of the
/// container may not ptrace this copy of the runtime (its memory is the daemon's) nor open its
/// /proc/PID/{root,cwd,fd,exe}. Repeated after every change of credentials, which resets the flag
/// to fs.suid_dumpable (1 there would make it dumpable again).
static void make_undumpable(void) {
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) shim_fail(AEGIS_STEP_DUMPABLE, "");
}

/// The container process's oom_score_adj, written while this process still has the caller's
/// privileges (lowering it needs CAP_SYS_RESOURCE in the initial user namespace).
static void set_oom_score_adj(const struct aegis_spawn_config *p) {
    char num[24];
    if (!p->has_oom_score_adj) return;
    if (shim_write_file("/proc/self/oom_score_adj", shim_itoa(p->oom_score_adj, num)) < 0) shim_fail(AEGIS_STEP_OOM_SCORE_ADJ, num);
}

/// One setns(2) through the pidfd for all of `flags`: the kernel joins them together, user first,
/// and only if the pidfd's process still exists (ESRCH otherwise; a reused pid is never joined).
static void join_namespaces(int pidfd, uint64_t flags) {
    char detail[64];
    if (!flags) return;
    if (setns(pidfd, (int)flags) < 0) {
        ns_names(flags, detail, sizeof detail);
        shim_fail(AEGIS_STEP_SETNS_NET, detail);
    }
}

/// A container without a mount namespace of its own is only chroot'ed: so is its exec'd process.
static void enter_root(int root_fd) {
    if (root_fd < 0) return;
    if (fchdir(root_fd) < 0 || chroot(".") < 0) shim_fail(AEGIS_STEP_CHROOT, "");
    close(root_fd);
}

static void apply_rlimits(const struct aegis_spawn_config *p) {
    for (int i = 0; i < p->n_rlimits; i++) {
        struct rlimit rl = { .rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard };
        if (setrlimit(p->rlimits[i].resource, &rl) < 0) shim_fail(AEGIS_STEP_RLIMIT, p->rlimits[i].name);
    }
}

/// The exec'd process, from the joiner's go-ahead to execve (the order of child.c without init).
static void exec_child(const struct aegis_exec_config *cfg, int err_w, int sync_r) __attribute__((noreturn));
static void exec_child(const struct aegis_exec_config *cfg, int err_w, int sync_r) {
    const struct aegis_spawn_config *p = cfg->process;
    char go;
    if (shim_read_all(sync_r, &go, 1) != 1) _exit(1);  // the joiner failed and reported why
    close(sync_r);
    make_undumpable();
    int keep[5] = { err_w, cfg->pidfd, p->stdin_fd, p->stdout_fd, p->stderr_fd };
    if (shim_close_except(keep, 5) < 0) shim_fail(AEGIS_STEP_CLOSE_RANGE, "");  // the cgroup's fd
    if (cfg->join_cgroupns && setns(cfg->pidfd, CLONE_NEWCGROUP) < 0) shim_fail(AEGIS_STEP_SETNS_NET, "cgroup");
    close(cfg->pidfd);
    if (cfg->ns_flags & CLONE_NEWUSER) {
        // Root of the user namespace when its maps allow it, as the container process became.
        (void)syscall(SYS_setresgid, 0, 0, 0);
        (void)syscall(SYS_setresuid, 0, 0, 0);
        make_undumpable();
    }
    if (setsid() < 0) shim_fail(AEGIS_STEP_SETSID, "");
    shim_setup_stdio(p);
    apply_rlimits(p);
    // Nothing of the host stays open while paths the caller gave are resolved (CVE-2024-21626).
    int only_err[1] = { err_w };
    if (shim_close_except(only_err, 1) < 0) shim_fail(AEGIS_STEP_CLOSE_RANGE, "");
    int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) shim_fail(AEGIS_STEP_CWD, "/");
    shim_enter_cwd(p, rootfd);
    char exe[4096];
    shim_lookup_exec(p, rootfd, exe, sizeof exe);
    close(rootfd);
    if (!p->no_new_privs) shim_load_seccomp(p);  // while CAP_SYS_ADMIN is held, as child.c
    shim_set_credentials(p);
    make_undumpable();
    if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) shim_fail(AEGIS_STEP_NO_NEW_PRIVS, "");
    if (p->no_new_privs) shim_load_seccomp(p);
    execve(exe, (char *const *)p->argv, (char *const *)p->envp);
    shim_fail(AEGIS_STEP_EXECVE, exe);
}

/// clone3 into the sandbox's cgroup with the caller as parent (exit_signal must be 0 with
/// CLONE_PARENT: the child inherits this process's, SIGCHLD). The cgroup namespace is joined only
/// afterwards: from inside it the runtime's own cgroup would not be visible.
static pid_t clone_into_cgroup(int cgroup_fd) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PARENT | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
    args.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0;
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) shim_fail(AEGIS_STEP_CLONE3, cgroup_fd >= 0 ? "CLONE_PARENT|CLONE_INTO_CGROUP" : "CLONE_PARENT");
    return pid;
}

static void joiner_main(const struct aegis_exec_config *cfg, int err_w) __attribute__((noreturn));
static void joiner_main(const struct aegis_exec_config *cfg, int err_w) {
    const struct aegis_spawn_config *p = cfg->process;
    shim_set_error_fd(err_w);
    shim_reset_signals();
    make_undumpable();
    int keep[7] = { err_w, cfg->pidfd, cfg->cgroup_fd, cfg->root_fd, p->stdin_fd, p->stdout_fd, p->stderr_fd };
    if (shim_close_except(keep, 7) < 0) shim_fail(AEGIS_STEP_CLOSE_RANGE, "");  // the caller's other descriptors
    set_oom_score_adj(p);
    join_namespaces(cfg->pidfd, cfg->ns_flags);
    make_undumpable();  // joining a user namespace changed the credentials
    enter_root(cfg->root_fd);
    int sync_p[2];
    if (pipe2(sync_p, O_CLOEXEC) < 0) shim_fail(AEGIS_STEP_PIPE, "sync");
    pid_t pid = clone_into_cgroup(cfg->cgroup_fd);
    if (pid == 0) {
        close(sync_p[1]);
        exec_child(cfg, err_w, sync_p[0]);
    }
    close(sync_p[0]);
    // The caller learns the pid before the child may report anything, so it can always reap it.
    struct aegis_msg m;
    memset(&m, 0, sizeof m);
    m.kind = AEGIS_MSG_CHILD;
    m.pid = pid;
    if (shim_write_all(err_w, &m, sizeof m) < 0 || shim_write_all(sync_p[1], "1", 1) < 0) _exit(1);
    _exit(0);
}

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kill_and_reap(pid_t pid) {
    (void)kill(pid, SIGKILL);
    while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR) {}
}

/// Reads the joiner's and the child's reports until EOF (every writer gone: the joiner exited, the
/// child exec'd) or an error, within `timeout_ms`. Returns 0, or -1 with res's step/err/detail.
static int read_reports(int fd, int timeout_ms, struct aegis_exec_result *res) {
    int64_t deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - monotonic_ms();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int rc = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) {
            res->step = AEGIS_STEP_SYNC; res->err = rc == 0 ? ETIMEDOUT : errno;
            shim_strlcpy(res->detail, "the exec'd process did not reach execve within the set-up deadline", sizeof res->detail);
            return -1;
        }
        struct aegis_msg m;
        int n = shim_read_all(fd, &m, sizeof m);
        if (n == 0) {
            if (res->pid > 0) return 0;
            res->step = AEGIS_STEP_FORK; res->err = EPIPE;
            shim_strlcpy(res->detail, "the joiner exited without a report", sizeof res->detail);
            return -1;
        }
        if (n != (int)sizeof m) {
            res->step = AEGIS_STEP_SYNC; res->err = n < 0 ? errno : EPIPE;
            return -1;
        }
        if (m.kind == AEGIS_MSG_CHILD) { res->pid = m.pid; continue; }
        res->step = m.step; res->err = m.err;
        shim_strlcpy(res->detail, m.detail, sizeof res->detail);
        return -1;
    }
}

int aegis_exec_start(const struct aegis_exec_config *cfg, struct aegis_exec_result *res) {
    memset(res, 0, sizeof *res);
    int err_p[2];
    if (pipe2(err_p, O_CLOEXEC) < 0) { res->step = AEGIS_STEP_PIPE; res->err = errno; return -1; }
    // No signal handler of the caller may run in the copy before it resets them.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t joiner = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    int clone_err = errno;
    if (joiner == 0) joiner_main(cfg, err_p[1]);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(err_p[1]);
    if (joiner < 0) {
        close(err_p[0]);
        res->step = AEGIS_STEP_FORK; res->err = clone_err;
        shim_strlcpy(res->detail, "joiner", sizeof res->detail);
        return -1;
    }
    int timeout_ms = cfg->setup_timeout_ms > 0 ? cfg->setup_timeout_ms : AEGIS_SPAWN_TIMEOUT_MS;
    int rc = read_reports(err_p[0], timeout_ms, res);
    close(err_p[0]);
    if (rc < 0) {
        (void)kill(joiner, SIGKILL);
        if (res->pid > 0) kill_and_reap(res->pid);
        res->pid = 0;
    }
    while (waitpid(joiner, NULL, __WALL) < 0 && errno == EINTR) {}
    return rc;
}
