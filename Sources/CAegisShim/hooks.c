// hooks.c — runs one OCI lifecycle hook (config.md § POSIX-platform Hooks): the program with its
// args and env, the container's state JSON on stdin, optionally inside the container's namespaces,
// killed when its timeout passes. The child between clone and execve makes raw system calls only.
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/// Namespaces a hook joins "in the container namespace" (all but user and pid: a joined pid
/// namespace would only apply to the hook's children). Mount last: it changes root and cwd.
static const struct { const char *name; int type; } hook_namespaces[] = {
    {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP}, {"mnt", CLONE_NEWNS},
};

static void hook_child(const char *path, const char *const argv[], const char *const envp[], int stdin_r, const int *ns_fds,
                       int err_w) __attribute__((noreturn));
static void hook_child(const char *path, const char *const argv[], const char *const envp[], int stdin_r, const int *ns_fds,
                       int err_w) {
    shim_reset_signals();
    for (size_t i = 0; i < sizeof hook_namespaces / sizeof hook_namespaces[0]; i++) {
        if (ns_fds[i] >= 0 && setns(ns_fds[i], hook_namespaces[i].type) < 0) {
            shim_send_error(err_w, AEGIS_STEP_SETNS_NET, errno, hook_namespaces[i].name);
            _exit(127);
        }
    }
    if (dup2(stdin_r, 0) < 0) { shim_send_error(err_w, AEGIS_STEP_STDIO, errno, "stdin"); _exit(127); }
    int keep[1] = { err_w };
    (void)shim_close_except(keep, 1);
    execve(path, (char *const *)argv, (char *const *)envp);
    shim_send_error(err_w, AEGIS_STEP_EXECVE, errno, path);
    _exit(127);
}

int aegis_run_hook(const char *path, const char *const argv[], const char *const envp[], const void *state, size_t state_len,
                   pid_t ns_pid, int timeout_ms, struct aegis_hook_result *res) {
    memset(res, 0, sizeof *res);
    int ns_fds[5] = { -1, -1, -1, -1, -1 };
    int in[2] = { -1, -1 }, err[2] = { -1, -1 };
    int rc = -1;
    if (ns_pid > 0) {
        for (size_t i = 0; i < 5; i++) {
            char p[64], num[24];
            shim_strlcpy(p, "/proc/", sizeof p);
            shim_strlcat(p, shim_itoa(ns_pid, num), sizeof p);
            shim_strlcat(p, "/ns/", sizeof p);
            shim_strlcat(p, hook_namespaces[i].name, sizeof p);
            ns_fds[i] = open(p, O_RDONLY | O_CLOEXEC);
            if (ns_fds[i] < 0) { res->step = AEGIS_STEP_SETNS_NET; res->err = errno; shim_strlcpy(res->detail, p, sizeof res->detail); goto out; }
        }
    }
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) { res->step = AEGIS_STEP_PIPE; res->err = errno; goto out; }
    pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0) { res->step = AEGIS_STEP_FORK; res->err = errno; goto out; }
    if (pid == 0) hook_child(path, argv, envp, in[0], ns_fds, err[1]);
    close(in[0]); in[0] = -1;
    close(err[1]); err[1] = -1;
    // The state is small (< 64 KiB, a pipe's buffer); a hook that doesn't read it isn't blocked on.
    (void)fcntl(in[1], F_SETFL, O_NONBLOCK);
    (void)shim_write_all(in[1], state, state_len);
    close(in[1]); in[1] = -1;
    struct aegis_msg m;
    int n = shim_read_all(err[0], &m, sizeof m);  // EOF at execve
    if (n == (int)sizeof m && m.kind == AEGIS_MSG_ERROR) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        res->step = m.step; res->err = m.err; shim_strlcpy(res->detail, m.detail, sizeof res->detail);
        goto out;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (timeout_ms > 0 && pidfd >= 0) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int r;
        while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {}
        if (r == 0) { (void)kill(pid, SIGKILL); res->timed_out = 1; }
    }
    if (pidfd >= 0) close(pidfd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    res->status = status;
    rc = 0;
out:
    for (int i = 0; i < 5; i++) if (ns_fds[i] >= 0) close(ns_fds[i]);
    int fds[4] = { in[0], in[1], err[0], err[1] };
    for (int i = 0; i < 4; i++) if (fds[i] >= 0) close(fds[i]);
    return rc;
}
