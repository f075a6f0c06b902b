// spawn.c — aegis_spawn (caller side), the intermediate process and the supervisor's start-up:
// clone3 into namespaces and the cgroup, uid/gid maps, go-ahead, and relaying the outcome of the
// container process's set-up to the caller. See aegis_shim.h for the process tree.
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void report(int fd, int kind, int step, int err, const char *detail, pid_t pid, int used_clone3) {
    struct aegis_msg m;
    memset(&m, 0, sizeof m);
    m.kind = kind; m.step = step; m.err = err; m.pid = pid;
    m.supervisor_pid = getpid(); m.used_clone3 = used_clone3;
    shim_strlcpy(m.detail, detail, sizeof m.detail);
    (void)shim_write_all(fd, &m, sizeof m);
}

static void kill_and_reap(pid_t pid) {
    (void)kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}

/// Writes /proc/PID/setgroups, uid_map and gid_map (user_namespaces(7)). Returns the failing step.
static int write_id_maps(const struct aegis_spawn_config *cfg, pid_t pid, char *path_out) {
    char num[24];
    static const struct { const char *file; int step; } files[] = {
        {"/setgroups", AEGIS_STEP_SETGROUPS_DENY}, {"/uid_map", AEGIS_STEP_UID_MAP}, {"/gid_map", AEGIS_STEP_GID_MAP},
    };
    const char *text[3] = { cfg->setgroups_deny ? "deny" : NULL, cfg->uid_map, cfg->gid_map };
    for (int i = 0; i < 3; i++) {
        if (!text[i]) continue;
        shim_strlcpy(path_out, "/proc/", AEGIS_DETAIL_MAX);
        shim_strlcat(path_out, shim_itoa(pid, num), AEGIS_DETAIL_MAX);
        shim_strlcat(path_out, files[i].file, AEGIS_DETAIL_MAX);
        if (shim_write_file(path_out, text[i]) < 0) return files[i].step;
    }
    return 0;
}

/// The capped-log sink of `cfg` (NULL without capped logs).
static const struct aegis_log_sink *log_sink(const struct aegis_spawn_config *cfg, struct aegis_log_sink *out) {
    if (cfg->log_cap_bytes <= 0) return NULL;
    *out = (struct aegis_log_sink){ cfg->log_stdout_fd, cfg->log_stderr_fd, cfg->log_dir_fd, cfg->log_cap_bytes };
    return out;
}

static void exec_supervisor(const struct aegis_spawn_config *cfg, pid_t pid, int err_fd, int status_fd) {
    char a[11][24];
    struct aegis_log_sink sink_buf;
    const struct aegis_log_sink *logs = log_sink(cfg, &sink_buf);
    int fds[7] = { err_fd, status_fd, cfg->cgroup_fd, cfg->state_dir_fd, logs ? logs->stdout_fd : -1,
                   logs ? logs->stderr_fd : -1, logs ? logs->dir_fd : -1 };
    for (int i = 0; i < 7; i++) if (fds[i] >= 0) (void)fcntl(fds[i], F_SETFD, 0);  // keep across execve
    int lease = cfg->lease_file && cfg->lease_grace_ms > 0;
    const char *argv[] = {
        cfg->supervisor_path, shim_itoa(pid, a[0]), shim_itoa(err_fd, a[1]), shim_itoa(status_fd, a[2]),
        shim_itoa(cfg->cgroup_fd, a[3]), shim_itoa(cfg->state_dir_fd, a[4]), shim_itoa(cfg->started_at_ns, a[5]),
        lease ? shim_itoa(cfg->lease_grace_ms, a[6]) : "0", lease ? cfg->lease_file : "-",
        shim_itoa(fds[4], a[7]), shim_itoa(fds[5], a[8]), shim_itoa(fds[6], a[9]),
        shim_itoa(logs ? logs->cap_bytes : 0, a[10]), NULL,
    };
    const char *envp[] = { NULL };
    execve(cfg->supervisor_path, (char *const *)argv, (char *const *)envp);
    // Fall through: supervise from this (forked) copy instead.
}

static void supervisor_main(const struct aegis_spawn_config *cfg, int rep_w) __attribute__((noreturn));
static void supervisor_main(const struct aegis_spawn_config *cfg, int rep_w) {
    (void)setsid();  // outlive the caller's session and terminal
    shim_reset_signals();
    int logs = cfg->log_cap_bytes > 0;
    int keep[11 + AEGIS_MAX_JOIN] = { rep_w, cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd, cfg->cgroup_fd, cfg->state_dir_fd,
                                      cfg->init_fd, logs ? cfg->log_stdout_fd : -1, logs ? cfg->log_stderr_fd : -1,
                                      logs ? cfg->log_dir_fd : -1, cfg->root_idmap_path ? cfg->root_idmap_userns_fd : -1 };
    int n_keep = 11;
    for (int i = 0; i < cfg->n_join && i < AEGIS_MAX_JOIN; i++) keep[n_keep++] = cfg->join_fds[i];
    (void)shim_close_except(keep, n_keep);  // drop descriptors other threads of the caller had open

    int sync_p[2], err_p[2], status_p[2] = { -1, -1 };
    if (pipe2(sync_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 || (cfg->use_init && pipe2(status_p, O_CLOEXEC) < 0)) {
        report(rep_w, AEGIS_MSG_ERROR, AEGIS_STEP_PIPE, errno, "", 0, 0);
        _exit(1);
    }
    // A joined pid namespace: setns here makes it the namespace of the next child (pid_namespaces(7)).
    for (int i = 0; i < cfg->n_join; i++) {
        if (cfg->join_types[i] == CLONE_NEWPID && setns(cfg->join_fds[i], CLONE_NEWPID) < 0) {
            report(rep_w, AEGIS_MSG_ERROR, AEGIS_STEP_SETNS_NET, errno, "pid", 0, 0);
            _exit(1);
        }
    }
    uint64_t flags = cfg->clone_flags;
    int used_clone3 = 0;
    pid_t pid = -1;
    if (!cfg->force_clone_fallback) {
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = flags | (cfg->cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
        args.exit_signal = SIGCHLD;
        args.cgroup = cfg->cgroup_fd >= 0 ? (uint64_t)cfg->cgroup_fd : 0;
        pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
        if (pid >= 0) used_clone3 = 1;
        else if (!(errno == ENOSYS || errno == E2BIG || (errno == EINVAL && cfg->cgroup_fd >= 0))) {
            report(rep_w, AEGIS_MSG_ERROR, AEGIS_STEP_CLONE3, errno, "", 0, 0);
            _exit(1);
        }
    }
    // Fallback for kernels without clone3/CLONE_INTO_CGROUP: clone, then cgroup.procs; the child
    // unshares its cgroup namespace only after the move so that its root is the sandbox leaf.
    int unshare_cgroupns = 0;
    if (!used_clone3) {
        unshare_cgroupns = (flags & CLONE_NEWCGROUP) != 0;
        pid = (pid_t)syscall(SYS_clone, (unsigned long)((flags & ~(uint64_t)CLONE_NEWCGROUP) | SIGCHLD), NULL, NULL, NULL, NULL);
        if (pid < 0) { report(rep_w, AEGIS_MSG_ERROR, AEGIS_STEP_CLONE3, errno, "clone", 0, 0); _exit(1); }
    }
    if (pid == 0) {
        close(sync_p[1]); close(err_p[0]); if (status_p[0] >= 0) close(status_p[0]);
        close(rep_w);
        struct shim_child_fds fds = { sync_p[0], err_p[1], status_p[1], unshare_cgroupns };
        shim_child_main(cfg, &fds);
    }
    close(sync_p[0]); close(err_p[1]); if (status_p[1] >= 0) close(status_p[1]);
    for (int i = 0; i < cfg->n_join; i++) close(cfg->join_fds[i]);  // only the child joins them; don't pin them
    if (cfg->root_idmap_path) close(cfg->root_idmap_userns_fd);      // likewise, only the child maps with it
    // Keep no copy of the caller's stdio: `create` must be able to exit while a reader waits.
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int cfg_stdio[3] = { cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd };
    for (int i = 0; i < 3; i++) if (cfg_stdio[i] > 2) close(cfg_stdio[i]);
    if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); if (null > 2) close(null); }

    char detail[AEGIS_DETAIL_MAX] = "";
    if (!used_clone3 && cfg->cgroup_fd >= 0) {
        char num[24];
        if (shim_write_file_at(cfg->cgroup_fd, "cgroup.procs", shim_itoa(pid, num)) < 0) {
            int e = errno; kill_and_reap(pid);
            report(rep_w, AEGIS_MSG_ERROR, AEGIS_STEP_CGROUP_ATTACH, e, "cgroup.procs", 0, 0);
            _exit(1);
        }
    }
    if (cfg->uid_map || cfg->gid_map) {
        int step = write_id_maps(cfg, pid, detail);
        if (step) {
            int e = errno; kill_and_reap(pid);
            report(rep_w, AEGIS_MSG_ERROR, step, e, detail, 0, used_clone3);
            _exit(1);
        }
    }
    if (shim_write_all(sync_p[1], "1", 1) < 0) {
        int e = errno; kill_and_reap(pid);
        report(rep_w, AEGIS_MSG_ERROR, AEGIS_STEP_SYNC, e, "", 0, used_clone3);
        _exit(1);
    }
    close(sync_p[1]);

    // The container process now runs its steps. Its first decisive message tells the caller:
    // READY (waiting for `start`), ERROR (a step failed), or EOF (execve closed the pipe).
    struct aegis_msg m;
    int n = shim_read_all(err_p[0], &m, sizeof m);
    if (n == (int)sizeof m && m.kind == AEGIS_MSG_ERROR) {
        kill_and_reap(pid);
        report(rep_w, AEGIS_MSG_ERROR, m.step, m.err, m.detail, pid, used_clone3);
        _exit(1);
    }
    int ready = (n == (int)sizeof m && m.kind == AEGIS_MSG_READY);
    report(rep_w, ready ? AEGIS_MSG_READY : AEGIS_MSG_EXECED, 0, 0, "", pid, used_clone3);
    close(rep_w);
    int err_fd = err_p[0];
    if (!ready) { close(err_fd); err_fd = -1; }
    // Short jobs are supervised right here; a process still running after the delay gets the small
    // aegis-supervisor executable instead, so that this copy-on-write image of the caller goes away.
    if (cfg->supervisor_path && err_fd < 0) {
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int ended = pidfd >= 0 && poll(&p, 1, cfg->supervisor_exec_delay_ms) > 0;
        if (pidfd >= 0) close(pidfd);
        if (!ended) exec_supervisor(cfg, pid, err_fd, status_p[0]);
    } else if (cfg->supervisor_path) {
        exec_supervisor(cfg, pid, err_fd, status_p[0]);
    }
    struct aegis_log_sink sink;
    aegis_supervise(pid, err_fd, status_p[0], cfg->cgroup_fd, cfg->state_dir_fd, cfg->started_at_ns,
                    cfg->lease_grace_ms > 0 ? cfg->lease_file : NULL, cfg->lease_grace_ms, log_sink(cfg, &sink));
}

/// The intermediate runs on its own small stack in the caller's memory (CLONE_VM|CLONE_VFORK, as
/// posix_spawn does): it copies nothing itself, forks the supervisor with a raw clone (no atfork
/// handlers run in the shared memory) and exits, so the supervisor is nobody's child here.
struct intermediate_args {
    const struct aegis_spawn_config *cfg;
    int rep_w;
    int err;
    pid_t supervisor;  // written by the intermediate (shared memory): killed if the spawn misses its deadline
};

static int intermediate(void *p) {
    struct intermediate_args *a = p;
    pid_t s = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    if (s == 0) supervisor_main(a->cfg, a->rep_w);
    if (s < 0) a->err = errno;
    a->supervisor = s;
    syscall(SYS_exit, 0);
    return 0;
}

#define INTERMEDIATE_STACK (256 * 1024)

static int64_t shim_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int aegis_spawn(const struct aegis_spawn_config *cfg, struct aegis_spawn_result *res) {
    memset(res, 0, sizeof *res);
    int rep[2];
    if (pipe2(rep, O_CLOEXEC) < 0) { res->step = AEGIS_STEP_PIPE; res->err = errno; return -1; }
    void *stack = mmap(NULL, INTERMEDIATE_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        res->step = AEGIS_STEP_FORK; res->err = errno;
        close(rep[0]); close(rep[1]);
        return -1;
    }
    // No signal handler of the caller may run on the intermediate's borrowed stack.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    struct intermediate_args args = { cfg, rep[1], 0, 0 };
    pid_t mid = clone(intermediate, (char *)stack + INTERMEDIATE_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    int clone_err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(rep[1]);
    if (mid > 0) while (waitpid(mid, NULL, __WALL) < 0 && errno == EINTR) {}
    munmap(stack, INTERMEDIATE_STACK);
    if (mid < 0 || args.err) {
        res->step = AEGIS_STEP_FORK; res->err = mid < 0 ? clone_err : args.err;
        shim_strlcpy(res->detail, "supervisor", sizeof res->detail);
        close(rep[0]);
        return -1;
    }
    // The report must come within the deadline: a set-up step that hangs (a mount on a dead NFS
    // server, a stuck FUSE source) must not hold the caller. On expiry the supervisor is killed
    // (its container process goes with the caller's cgroup clean-up).
    int timeout_ms = cfg->spawn_timeout_ms > 0 ? cfg->spawn_timeout_ms : AEGIS_SPAWN_TIMEOUT_MS;
    int64_t deadline = shim_monotonic_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - shim_monotonic_ms();
        struct pollfd p = { .fd = rep[0], .events = POLLIN };
        int rc = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (rc > 0) break;
        if (rc < 0 && errno == EINTR) continue;
        if (args.supervisor > 0) (void)kill(args.supervisor, SIGKILL);
        close(rep[0]);
        res->step = AEGIS_STEP_SUPERVISOR; res->err = rc == 0 ? ETIMEDOUT : errno;
        shim_strlcpy(res->detail, "the sandbox's set-up did not report within the spawn deadline", sizeof res->detail);
        return -1;
    }
    struct aegis_msg m;
    int n = shim_read_all(rep[0], &m, sizeof m);
    close(rep[0]);
    if (n != (int)sizeof m) {
        res->step = AEGIS_STEP_SUPERVISOR; res->err = n < 0 ? errno : EPIPE;
        shim_strlcpy(res->detail, "supervisor exited without a report", sizeof res->detail);
        return -1;
    }
    res->pid = m.pid;
    res->supervisor_pid = m.supervisor_pid;
    res->used_clone3 = m.used_clone3;
    if (m.kind == AEGIS_MSG_ERROR) {
        res->step = m.step; res->err = m.err;
        shim_strlcpy(res->detail, m.detail, sizeof res->detail);
        return -1;
    }
    return 0;
}

int aegis_start(const char *exec_fifo, struct aegis_spawn_result *res) {
    memset(res, 0, sizeof *res);
    res->step = AEGIS_STEP_EXEC_FIFO;
    shim_strlcpy(res->detail, exec_fifo, sizeof res->detail);
    // O_NONBLOCK: opening never waits; the container process blocked in open(O_WRONLY) wakes up.
    int fd = open(exec_fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) { res->err = errno; return -1; }
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int rc = poll(&p, 1, 10000);
    if (rc <= 0) { res->err = rc == 0 ? ETIMEDOUT : errno; close(fd); return -1; }
    char first;
    ssize_t r = read(fd, &first, 1);
    if (r != 1) { res->err = r == 0 ? EPIPE : errno; close(fd); return -1; }
    // Now wait for EOF (execve closed the O_CLOEXEC writer) or an error message.
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    struct aegis_msg m;
    int n = shim_read_all(fd, &m, sizeof m);
    close(fd);
    if (n == (int)sizeof m && m.kind == AEGIS_MSG_ERROR) {
        res->step = m.step; res->err = m.err;
        shim_strlcpy(res->detail, m.detail, sizeof res->detail);
        return -1;
    }
    res->step = 0;
    res->detail[0] = 0;
    return 0;
}
