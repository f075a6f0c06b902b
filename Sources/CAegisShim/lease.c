// lease.c — the supervisor's dead man's switch. The node daemon keeps a lease file's mtime fresh;
// each sandbox's supervisor (a separate process, so this holds when the daemon is dead or stopped)
// stats it while waiting for the container process. Once CLOCK_REALTIME - st_mtim exceeds the
// grace, or the file can't be stat'ed, the supervisor kills the sandbox's whole cgroup itself.
// One function per step; raw system calls only (runs in the forked supervisor too).
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LEASE_CHECK_MAX_MS 1000     // stat at least this often (catches a deleted lease file)
#define FENCE_EMPTY_WAIT_MS 2000    // after cgroup.kill: wait this long at most for populated 0
#define FENCE_EMPTY_POLL_MS 5

static void sleep_ms(int ms) {
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/// Step 1: the lease's age in ns (now - st_mtim, both CLOCK_REALTIME; negative when the mtime is
/// ahead of the clock). Returns 0, or -1 with errno from stat(2).
static int lease_age_ns(const char *path, int64_t *age) {
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    *age = shim_realtime_ns() - ((int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
    return 0;
}

/// Step 2: how long to wait before the next check: just past the deadline, at most 1 s.
static int next_check_ms(int64_t age_ns, int grace_ms) {
    int64_t left_ns = (int64_t)grace_ms * 1000000LL - age_ns;
    int64_t ms = left_ns <= 0 ? 1 : left_ns / 1000000LL + 1;
    return ms > LEASE_CHECK_MAX_MS ? LEASE_CHECK_MAX_MS : (int)ms;
}

/// Step 3: kill every process of the sandbox through cgroup.kill; SIGKILL of its PID 1 when that
/// fails (kernel < 5.14, no cgroup fd). Failures land in fence->kill_step/kill_err.
static void fence_kill(int cgroup_fd, pid_t pid, struct shim_fence *fence) {
    if (cgroup_fd >= 0 && shim_write_file_at(cgroup_fd, "cgroup.kill", "1") == 0) return;
    fence->kill_step = AEGIS_STEP_CGROUP_KILL;
    fence->kill_err = cgroup_fd >= 0 ? errno : EBADF;
    (void)kill(pid, SIGKILL);
}

/// Step 4: wait (bounded) until cgroup.events says `populated 0`, so that an outcome saying
/// "fenced" means the sandbox's processes are gone, not merely signalled.
static void wait_cgroup_empty(int cgroup_fd) {
    if (cgroup_fd < 0) return;
    for (int waited = 0; waited < FENCE_EMPTY_WAIT_MS; waited += FENCE_EMPTY_POLL_MS) {
        if (shim_read_keyed(cgroup_fd, "cgroup.events", "populated") <= 0) return;
        sleep_ms(FENCE_EMPTY_POLL_MS);
    }
}

/// 1 when `pid` has exited (it stays a zombie for wait4), 0 while it runs; -1 when it is not our
/// child (wait4 will tell).
static int has_exited(pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
        if (errno != EINTR) return -1;
    }
    return si.si_pid == pid;
}

/// Reads one message (or EOF) from the error channel; a late failure after `start` is kept.
static void read_err_message(int *err_fd, struct aegis_msg *late, int *have_late) {
    struct aegis_msg m;
    if (shim_read_all(*err_fd, &m, sizeof m) == (int)sizeof m) {
        if (m.kind == AEGIS_MSG_ERROR) { *late = m; *have_late = 1; }
        return;
    }
    close(*err_fd);
    *err_fd = -1;
}

/// True (and the fence done) when the lease lapsed; otherwise sets *timeout_ms for the next check.
static int check_lease(const struct shim_lease *lease, pid_t pid, int cgroup_fd, struct shim_fence *fence,
                       int *timeout_ms) {
    int64_t age = 0;
    int stat_err = lease_age_ns(lease->path, &age) < 0 ? errno : 0;
    if (!stat_err && age <= (int64_t)lease->grace_ms * 1000000LL) {
        *timeout_ms = next_check_ms(age, lease->grace_ms);
        return 0;
    }
    fence->fenced = 1;
    fence->stat_err = stat_err;
    fence->age_ms = stat_err ? -1 : age / 1000000LL;
    fence_kill(cgroup_fd, pid, fence);
    wait_cgroup_empty(cgroup_fd);
    return 1;
}

void shim_wait_watching_lease(pid_t pid, int *err_fd, int cgroup_fd, const struct shim_lease *lease,
                              struct shim_fence *fence, struct aegis_msg *late, int *have_late) {
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (;;) {
        if (has_exited(pid) != 0) break;
        int timeout = LEASE_CHECK_MAX_MS;
        if (check_lease(lease, pid, cgroup_fd, fence, &timeout)) break;
        struct pollfd p[2];
        int n = 0, err_slot = -1;
        if (pidfd >= 0) p[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
        if (*err_fd >= 0) { err_slot = n; p[n++] = (struct pollfd){ .fd = *err_fd, .events = POLLIN }; }
        int rc = poll(p, (nfds_t)n, timeout);
        if (rc < 0 && errno != EINTR) {
            sleep_ms(timeout);  // poll itself failed: still check the lease on time
            continue;
        }
        if (rc > 0 && err_slot >= 0 && (p[err_slot].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
            read_err_message(err_fd, late, have_late);
    }
    if (pidfd >= 0) close(pidfd);
}
