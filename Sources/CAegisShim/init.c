// init.c — the sandbox's PID 1 for AEGIS agents (the OCI CLI runs the spec's process as PID 1
// instead, like runc, unless the init is asked for).
//
// A PID-1 process gets no default signal actions and must reap every orphan in its namespace
// (pid_namespaces(7)). This init forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 to the
// agent, reaps zombies, and when the agent ends passes its raw wait status to the supervisor and
// exits with the agent's code (128+N for a signal). The kernel then kills what is left in the
// namespace. All signals are blocked on entry (by the caller, before fork).
//
// The init is a copy-on-write image of the process that started the sandbox (the worker daemon):
// left alone, every page the daemon later writes would become the init's private copy. So the init
// first drops the inherited anonymous memory it doesn't use, and from then on makes raw system
// calls only (no library code that could touch dropped pages).
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

static uintptr_t parse_hex(const char **p) {
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9') v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else return v;
    }
}

/// madvise(MADV_DONTNEED) on every private anonymous writable mapping except the one holding our
/// stack and the one holding our thread's TLS (errno). Silent on any failure: this only saves memory.
static void release_inherited_memory(void) {
    char buf[8192];
    uintptr_t keep_sp = (uintptr_t)buf;
    uintptr_t keep_tls = (uintptr_t)&errno;
    struct { uintptr_t start, end; } drop[512];
    int n = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0) break;
        have += (size_t)r;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = 0;
            const char *p = line;
            uintptr_t start = parse_hex(&p); p++;
            uintptr_t end = parse_hex(&p); p++;
            int anon_rw_private = p[0] == 'r' && p[1] == 'w' && p[3] == 'p';
            // perms, offset, dev, inode, then the optional path
            int field = 0;
            const char *path = "";
            unsigned long inode = 1;
            for (const char *q = p; *q; q++) {
                if (*q == ' ' && q[1] != ' ') {
                    field++;
                    if (field == 3) { inode = 0; for (const char *d = q + 1; *d >= '0' && *d <= '9'; d++) inode = inode * 10 + (unsigned long)(*d - '0'); }
                    if (field == 4) { path = q + 1; break; }
                }
            }
            // No file behind it: no path at all, or the "[heap]" pseudo-path (not "[stack]", "[vdso]"…).
            int anonymous = inode == 0 && (path[0] == 0 || (path[0] == '[' && path[1] == 'h'));
            int keep = (keep_sp >= start && keep_sp < end) || (keep_tls >= start && keep_tls < end);
            if (anon_rw_private && anonymous && !keep && n < 512) { drop[n].start = start; drop[n].end = end; n++; }
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
    }
    close(fd);
    (void)syscall(SYS_getpid);  // resolve syscall()'s PLT entry while everything is still mapped
    for (int i = 0; i < n; i++) (void)syscall(SYS_madvise, drop[i].start, drop[i].end - drop[i].start, MADV_DONTNEED);
}

void shim_init_loop(pid_t agent, int status_w) {
    sigset_t all;
    sigfillset(&all);
    release_inherited_memory();
    for (;;) {
        siginfo_t si;
        long sig = syscall(SYS_rt_sigtimedwait, &all, &si, NULL, _NSIG / 8);
        if (sig < 0) continue;  // EINTR
        if (sig != SIGCHLD) {
            switch (sig) {
            case SIGTERM: case SIGINT: case SIGHUP: case SIGQUIT: case SIGUSR1: case SIGUSR2:
                (void)syscall(SYS_kill, agent, sig);
                break;
            default:
                break;
            }
            continue;
        }
        for (;;) {
            int status;
            long p = syscall(SYS_wait4, -1, &status, WNOHANG, NULL);
            if (p <= 0) break;
            if (p != agent) continue;
            if (status_w >= 0) (void)syscall(SYS_write, status_w, &status, sizeof status);
            syscall(SYS_exit_group, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
    }
}
