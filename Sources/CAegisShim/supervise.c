// supervise.c — after the container process started: wait for it, read what the kernel accounted
// (wait status, rusage, the cgroup's memory.events and memory.peak) and write outcome.json into the
// sandbox's state directory (write to a temporary name, fsync, rename: readers never see half a
// file). With a lease file it fences the sandbox when the lease lapses (lease.c) and says so in the
// outcome ("fenced", "leaseAgeMs"). With capped logs its log pump (logcap.c) drains the agent's
// output first. Runs either in the forked supervisor or as the main of the
// aegis-supervisor executable; raw system calls and the shim's own formatting only, so both are safe.
#include "internal.h"
#include "logcap.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/// CLOCK_REALTIME in ns (outcome times; lease ages against file mtimes).
int64_t shim_realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t shim_read_keyed(int dirfd, const char *file, const char *key) {
    if (dirfd < 0) return -1;
    int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[1024];
    int n = shim_read_all(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    size_t klen = shim_strlen(key);
    for (char *line = buf; *line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            int64_t v = 0;
            for (char *c = line + klen + 1; *c >= '0' && *c <= '9'; c++) v = v * 10 + (*c - '0');
            return v;
        }
        while (*line && *line != '\n') line++;
        if (*line) line++;
    }
    return -1;
}

/// Reads a single-number cgroup file (memory.peak); -1 when absent.
static int64_t read_number(int dirfd, const char *file) {
    if (dirfd < 0) return -1;
    int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[64];
    int n = shim_read_all(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0 || buf[0] < '0' || buf[0] > '9') return -1;
    int64_t v = 0;
    for (int i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) v = v * 10 + (buf[i] - '0');
    return v;
}

struct jbuf { char b[2048]; int bad; };
static void put(struct jbuf *j, const char *s) { if (shim_strlcat(j->b, s, sizeof j->b) < 0) j->bad = 1; }
static void put_int(struct jbuf *j, const char *key, int64_t v) {
    char num[24];
    put(j, "\""); put(j, key); put(j, "\":"); put(j, shim_itoa(v, num)); put(j, ",");
}
static void put_string(struct jbuf *j, const char *s) {
    put(j, "\"");
    for (; *s; s++) {
        char c[7] = { *s, 0 };
        if (*s == '"' || *s == '\\') { c[0] = '\\'; c[1] = *s; c[2] = 0; }
        else if ((unsigned char)*s < 0x20) shim_strlcpy(c, "?", sizeof c);
        put(j, c);
    }
    put(j, "\"");
}

/// The fencing fields of outcome.json (only for a sandbox with a lease).
static void put_fence(struct jbuf *j, const struct shim_fence *f) {
    put(j, f->fenced ? "\"fenced\":true," : "\"fenced\":false,");
    if (!f->fenced) return;
    if (f->stat_err) put_int(j, "leaseErrno", f->stat_err); else put_int(j, "leaseAgeMs", f->age_ms);
    if (f->kill_step) {
        char num[24];
        put(j, "\"fenceError\":{\"step\":"); put_string(j, aegis_step_name(f->kill_step));
        put(j, ",\"errno\":"); put(j, shim_itoa(f->kill_err, num));
        put(j, ",\"detail\":\"SIGKILL sent to the container process instead\"},");
    }
}

void aegis_supervise(pid_t pid, int err_fd, int status_fd, int cgroup_fd, int state_dir_fd, int64_t started_at_ns,
                     const char *lease_file, int lease_grace_ms, const struct aegis_log_sink *logs) {
    pid_t log_pump = shim_log_pump_start(pid, logs);
    struct aegis_msg late;
    int have_late = 0;
    struct shim_lease lease = { lease_file, lease_grace_ms };
    struct shim_fence fence;
    memset(&fence, 0, sizeof fence);
    // With a lease, until the process exits (or the lease lapses): relay late errors, watch the
    // lease. Without one, the blocking read below and wait4 are all it takes.
    if (lease_file && lease_grace_ms > 0) shim_wait_watching_lease(pid, &err_fd, cgroup_fd, &lease, &fence, &late, &have_late);
    if (err_fd >= 0) {  // after `start`: a step between the FIFO and execve may still fail
        struct aegis_msg m;
        while (shim_read_all(err_fd, &m, sizeof m) == (int)sizeof m)
            if (m.kind == AEGIS_MSG_ERROR) { late = m; have_late = 1; }
        close(err_fd);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno == EINTR) continue;
        status = -1;  // not our child (should not happen): outcome without a status
        break;
    }
    if (status_fd >= 0) {  // with an init, the agent's own status is the one that matters
        int agent_status;
        if (shim_read_all(status_fd, &agent_status, sizeof agent_status) == (int)sizeof agent_status) status = agent_status;
        close(status_fd);
    }
    int64_t finished = shim_realtime_ns();
    shim_log_pump_finish(log_pump);  // every line the agent wrote is in its log before the outcome
    int64_t oom_kills = shim_read_keyed(cgroup_fd, "memory.events", "oom_kill");
    int64_t peak = read_number(cgroup_fd, "memory.peak");
    int64_t cg_usage = shim_read_keyed(cgroup_fd, "cpu.stat", "usage_usec");
    int64_t cg_throttled = shim_read_keyed(cgroup_fd, "cpu.stat", "nr_throttled");
    int64_t cg_throttled_us = shim_read_keyed(cgroup_fd, "cpu.stat", "throttled_usec");

    struct jbuf j;
    memset(&j, 0, sizeof j);
    put(&j, "{");
    int sig = (status != -1 && WIFSIGNALED(status)) ? WTERMSIG(status) : 0;
    int code = status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + sig;
    put_int(&j, "exitCode", code);
    put_int(&j, "signal", sig);
    put(&j, oom_kills > 0 ? "\"oomKilled\":true," : "\"oomKilled\":false,");
    put_int(&j, "oomKillCount", oom_kills < 0 ? 0 : oom_kills);
    put_int(&j, "startedAtNs", started_at_ns);
    put_int(&j, "finishedAtNs", finished);
    put_int(&j, "wallTimeUs", started_at_ns > 0 ? (finished - started_at_ns) / 1000 : 0);
    put_int(&j, "cpuUserUs", (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec);
    put_int(&j, "cpuSystemUs", (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
    put_int(&j, "maxRssKiB", ru.ru_maxrss);
    if (peak >= 0) put_int(&j, "peakMemoryBytes", peak);
    if (cg_usage >= 0) put_int(&j, "cgroupCpuUsageUs", cg_usage);
    if (cg_throttled >= 0) put_int(&j, "cpuNrThrottled", cg_throttled);
    if (cg_throttled_us >= 0) put_int(&j, "cpuThrottledUs", cg_throttled_us);
    if (lease_file && lease_grace_ms > 0) put_fence(&j, &fence);
    if (have_late) {
        char num[24];
        put(&j, "\"error\":{\"step\":"); put_string(&j, aegis_step_name(late.step));
        put(&j, ",\"errno\":"); put(&j, shim_itoa(late.err, num));
        put(&j, ",\"detail\":"); late.detail[AEGIS_DETAIL_MAX - 1] = 0; put_string(&j, late.detail); put(&j, "},");
    }
    put(&j, "\"version\":1}\n");
    if (state_dir_fd >= 0 && !j.bad) {
        int fd = openat(state_dir_fd, "outcome.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            int ok = shim_write_all(fd, j.b, shim_strlen(j.b)) == 0 && fsync(fd) == 0;
            close(fd);
            if (ok) (void)renameat(state_dir_fd, "outcome.json.tmp", state_dir_fd, "outcome.json");
        }
    }
    _exit(0);
}
