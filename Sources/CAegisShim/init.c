// init.c — the sandbox's PID 1 for AEGIS agents (the OCI CLI runs the spec's process as PID 1
// instead, like runc, unless the init is asked for).
//
// A PID-1 process gets no default signal actions and must reap every orphan in its namespace
// (pid_namespaces(7)). This init forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 to the
// agent, reaps zombies, and when the agent ends passes its raw wait status to the supervisor and
// exits with the agent's code (128+N for a signal). The kernel then kills what is left in the
// namespace. All signals are blocked on entry (by the caller, before fork).
#include "internal.h"
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

void shim_init_loop(pid_t agent, int status_w) {
    sigset_t all;
    sigfillset(&all);
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig < 0) continue;  // EINTR
        if (sig != SIGCHLD) {
            switch (sig) {
            case SIGTERM: case SIGINT: case SIGHUP: case SIGQUIT: case SIGUSR1: case SIGUSR2:
                (void)kill(agent, sig);
                break;
            default:
                break;
            }
            continue;
        }
        for (;;) {
            int status;
            pid_t p = waitpid(-1, &status, WNOHANG);
            if (p <= 0) break;
            if (p != agent) continue;
            if (status_w >= 0) (void)shim_write_all(status_w, &status, sizeof status);
            _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
    }
}
