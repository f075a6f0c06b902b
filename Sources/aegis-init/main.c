// aegis-init — PID 1 of an AEGIS agent sandbox, exec'ed by the shim from a sealed memfd once the
// agent has been cloned (child.c, start_agent_under_init). It is a fresh, statically linked image:
// nothing of the daemon that created the sandbox (argv, environment, thread name, mappings, memory)
// remains visible in /proc/1 inside it, and no library of the sandbox's rootfs is ever loaded.
//
// argv: aegis-init AGENT_PID STATUS_FD (STATUS_FD -1: none). All signals arrive blocked (the mask
// survives execve). A PID-1 process gets no default signal actions and must reap every orphan in
// its namespace (pid_namespaces(7)): it forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and
// SIGUSR2 to the agent, reaps zombies, and when the agent ends writes its raw wait status to
// STATUS_FD (read by the supervisor) and exits with the agent's code (128+N for a signal). The kernel
// then kills whatever is left in the namespace.
//
// argv: aegis-init pause — the infra process of a pod (AegisPod): it only holds the pod's shared
// namespaces. It reaps whatever ends up as its child and exits 0 on SIGTERM, SIGINT or SIGHUP.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static long parse_long(const char *s, int *ok) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    *ok = errno == 0 && end && end != s && *end == 0;
    return v;
}

/// The pod infra holder: wait for signals, reap orphans, exit 0 when told to stop.
static int pause_forever(void) {
    (void)prctl(PR_SET_NAME, "aegis-pause", 0, 0, 0);
    sigset_t all;
    sigfillset(&all);
    (void)sigprocmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) return 0;
        if (sig == SIGCHLD) {
            while (waitpid(-1, NULL, WNOHANG) > 0) {}
        }
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "pause") == 0) return pause_forever();
    int ok1 = 0, ok2 = 0;
    pid_t agent = argc == 3 ? (pid_t)parse_long(argv[1], &ok1) : 0;
    int status_fd = argc == 3 ? (int)parse_long(argv[2], &ok2) : -1;
    if (!ok1 || !ok2 || agent <= 0) {
        static const char usage[] = "aegis-init: started by the AEGIS runtime only\n";
        (void)!write(2, usage, sizeof usage - 1);
        return 2;
    }
    (void)prctl(PR_SET_NAME, "aegis-init", 0, 0, 0);
    sigset_t all;
    sigfillset(&all);
    (void)sigprocmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig < 0) continue;  // EINTR
        switch (sig) {
        case SIGTERM: case SIGINT: case SIGHUP: case SIGQUIT: case SIGUSR1: case SIGUSR2:
            (void)kill(agent, sig);
            continue;
        case SIGCHLD:
            break;
        default:
            continue;
        }
        for (;;) {
            int status;
            pid_t p = waitpid(-1, &status, WNOHANG);
            if (p <= 0) break;
            if (p != agent) continue;
            if (status_fd >= 0) (void)!write(status_fd, &status, sizeof status);
            _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
    }
}
