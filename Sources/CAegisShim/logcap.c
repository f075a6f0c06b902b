// logcap.c — a sandbox's stdout/stderr, capped as they are written. The container writes into
// pipes; the supervisor forks a small "log pump" that owns their read ends (so the agent's output
// survives a restart of the node daemon) and appends what it reads, through one fixed buffer, to
// stdout.log / stderr.log in a directory. A write that would take a file past the cap first
// rotates it: the newest half, from the first line start in it, is copied into a new file that
// begins with the marker line "[aegis: N earlier bytes dropped]" (N counts every byte dropped
// from that log so far), which is renamed over the old one. A reader holding the old file keeps
// a consistent copy; a file is never larger than the cap plus one marker line.
//
// The pump ends when both pipes are at EOF (every process holding the write ends is gone), or a
// bounded time after the container process exited; the supervisor waits for it before it writes
// outcome.json, so everything the agent wrote is in the log before its exit is reported.
// Raw system calls only: the pump may be forked from the supervisor's copy of the caller.
#include "internal.h"
#include "logcap.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>  // renameat
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PUMP_BUFFER_BYTES (64 * 1024)
#define DRAIN_AFTER_EXIT_MS 2000  // output still arriving after the container exited (escaped writers)
#define PUMP_WAIT_MS 10000        // the supervisor waits at most this long for the pump to finish

static char pump_buffer[PUMP_BUFFER_BYTES];  // data read from a pipe
static char scratch[PUMP_BUFFER_BYTES];      // rotation's own (pump_buffer holds the pending chunk)

/// One log file being written: its pipe, its current file and where its kept part starts.
struct capped_log {
    int pipe_fd;             // read end, -1 once at EOF
    int fd;                  // the current file (O_RDWR, not O_APPEND: rotation rewrites it)
    const char *name;        // "stdout.log"
    const char *tmp_name;    // "stdout.log.tmp", renamed over `name` on rotation
    int64_t size;            // bytes in the current file
    int64_t marker_len;      // length of its marker line (0: none)
    int64_t dropped;         // bytes dropped from the head so far (the marker's N)
};

int64_t aegis_log_marker_parse(const char *head, int64_t len, int64_t *marker_len) {
    static const char prefix[] = "[aegis: ", suffix[] = " earlier bytes dropped]\n";
    int64_t p = sizeof prefix - 1, n = 0;
    if (len < p || memcmp(head, prefix, (size_t)p) != 0) return -1;
    int64_t digits = 0;
    while (p < len && head[p] >= '0' && head[p] <= '9' && digits < 18) { n = n * 10 + (head[p++] - '0'); digits++; }
    if (digits == 0 || len - p < (int64_t)sizeof suffix - 1 || memcmp(head + p, suffix, sizeof suffix - 1) != 0) return -1;
    *marker_len = p + (int64_t)sizeof suffix - 1;
    return n;
}

int aegis_log_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

static int marker_text(int64_t dropped, char *out) {
    char num[24];
    out[0] = 0;
    shim_strlcat(out, "[aegis: ", AEGIS_LOG_MARKER_MAX);
    shim_strlcat(out, shim_itoa(dropped, num), AEGIS_LOG_MARKER_MAX);
    shim_strlcat(out, " earlier bytes dropped]\n", AEGIS_LOG_MARKER_MAX);
    return (int)shim_strlen(out);
}

/// Opens (or creates) the log and reads the marker a previous writer left at its head.
static int open_log(struct capped_log *l, int dir_fd) {
    l->fd = openat(dir_fd, l->name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (l->fd < 0) return -1;
    l->size = lseek(l->fd, 0, SEEK_END);
    if (l->size < 0) l->size = 0;
    char head[AEGIS_LOG_MARKER_MAX];
    ssize_t n = pread(l->fd, head, sizeof head, 0);
    l->marker_len = 0;
    l->dropped = n > 0 ? aegis_log_marker_parse(head, n, &l->marker_len) : -1;
    if (l->dropped < 0) { l->dropped = 0; l->marker_len = 0; }
    return 0;
}

/// Copies [from, to) of `src` to the end of `dst`: in the kernel when it can, else through the buffer.
static int copy_range(int src, int dst, int64_t from, int64_t to) {
    while (from < to) {
        loff_t in = from;
        ssize_t n = copy_file_range(src, &in, dst, NULL, (size_t)(to - from), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) return -1;  // source shorter than expected
            ssize_t r = pread(src, scratch, (size_t)(to - from < PUMP_BUFFER_BYTES ? to - from : PUMP_BUFFER_BYTES), from);
            if (r <= 0 || shim_write_all(dst, scratch, (size_t)r) < 0) return -1;
            n = r;
        }
        from += n;
    }
    return 0;
}

/// Where the kept part starts: `from`, moved to just after the first newline at or after from - 1
/// (so that it begins with a whole line) when there is one in the next buffer's worth of the file.
static int64_t line_start(int fd, int64_t from, int64_t marker_len) {
    if (from <= marker_len) return marker_len;
    ssize_t n = pread(fd, scratch, PUMP_BUFFER_BYTES, from - 1);
    for (ssize_t i = 0; i < n; i++)
        if (scratch[i] == '\n') return from + i;
    return from;
}

/// Keeps the newest `keep` bytes (from a line start) under a new marker line. When the copy can't
/// be made (disk full), the whole file is dropped instead: the cap holds either way.
static void rotate(struct capped_log *l, int dir_fd, int64_t keep) {
    int64_t from = l->size - keep;
    if (from < l->marker_len) from = l->marker_len;
    from = line_start(l->fd, from, l->marker_len);
    int64_t dropped = l->dropped + (from - l->marker_len);
    char marker[AEGIS_LOG_MARKER_MAX];
    int mlen = marker_text(dropped, marker);
    int tmp = openat(dir_fd, l->tmp_name, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (tmp >= 0 && shim_write_all(tmp, marker, (size_t)mlen) == 0 && copy_range(l->fd, tmp, from, l->size) == 0
        && renameat(dir_fd, l->tmp_name, dir_fd, l->name) == 0) {
        close(l->fd);
        l->fd = tmp;
        l->size = mlen + (l->size - from);
    } else {
        if (tmp >= 0) { close(tmp); (void)unlinkat(dir_fd, l->tmp_name, 0); }
        dropped = l->dropped + (l->size - l->marker_len);
        mlen = marker_text(dropped, marker);
        (void)ftruncate(l->fd, 0);
        l->size = pwrite(l->fd, marker, (size_t)mlen, 0) == mlen ? mlen : 0;
        if (l->size == 0) (void)ftruncate(l->fd, 0);
    }
    l->marker_len = l->size > 0 ? mlen : 0;
    l->dropped = l->size > 0 ? dropped : 0;
}

/// Appends n bytes (n <= cap / 2), rotating first when they would take the file past the cap.
/// A log that could not be opened (fd -1) drops them: the pipe is drained all the same.
static void append(struct capped_log *l, int dir_fd, int64_t cap, const char *buf, ssize_t n) {
    if (l->fd < 0) return;
    if (l->size + n > cap) rotate(l, dir_fd, cap / 2 - n > 0 ? cap / 2 - n : 0);
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = pwrite(l->fd, buf + off, (size_t)(n - off), l->size + off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;  // disk full or I/O error: the rest of this chunk is lost, the agent goes on
        off += w;
    }
    l->size += off;
}

/// Reads one chunk from the log's pipe into its file; closes the pipe at EOF. Returns the bytes
/// read, 0 at EOF, -1 when nothing was there (EAGAIN) or the read was interrupted.
static ssize_t pump_once(struct capped_log *l, int dir_fd, int64_t cap) {
    size_t chunk = (size_t)(cap / 2 < PUMP_BUFFER_BYTES ? cap / 2 : PUMP_BUFFER_BYTES);
    ssize_t n = read(l->pipe_fd, pump_buffer, chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return -1;
    if (n <= 0) { close(l->pipe_fd); l->pipe_fd = -1; return 0; }
    append(l, dir_fd, cap, pump_buffer, n);
    return n;
}

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/// The pump's loop: both pipes until EOF, or until DRAIN_AFTER_EXIT_MS after the container
/// process (`pidfd`) exited, then whatever the pipes still hold.
static void pump_loop(struct capped_log *logs, int n_logs, int pidfd, int dir_fd, int64_t cap) {
    int64_t deadline = -1;
    for (;;) {
        struct pollfd p[3];
        int map[3], n = 0;
        for (int i = 0; i < n_logs; i++)
            if (logs[i].pipe_fd >= 0) { map[n] = i; p[n++] = (struct pollfd){ .fd = logs[i].pipe_fd, .events = POLLIN }; }
        if (n == 0) return;
        int pid_slot = -1;
        if (pidfd >= 0 && deadline < 0) { pid_slot = n; map[n] = -1; p[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN }; }
        int64_t left = deadline < 0 ? -1 : deadline - monotonic_ms();
        if (deadline >= 0 && left <= 0) break;
        int rc = poll(p, (nfds_t)n, (int)left);
        if (rc < 0 && errno != EINTR) break;
        for (int i = 0; rc > 0 && i < n; i++) {
            if (!p[i].revents) continue;
            if (i == pid_slot) deadline = monotonic_ms() + DRAIN_AFTER_EXIT_MS;
            else pump_once(&logs[map[i]], dir_fd, cap);
        }
    }
    // Past the deadline: what is in the pipes now, without waiting for writers that stay.
    for (int i = 0; i < n_logs; i++) {
        if (logs[i].pipe_fd < 0) continue;
        (void)fcntl(logs[i].pipe_fd, F_SETFL, O_NONBLOCK);
        while (logs[i].pipe_fd >= 0 && pump_once(&logs[i], dir_fd, cap) > 0) {}
    }
}

pid_t shim_log_pump_start(pid_t container, const struct aegis_log_sink *sink) {
    if (!sink || sink->cap_bytes <= 0) return -1;
    // Opened here, before the supervisor can reap the container: the pump sees it exit.
    int pidfd = (int)syscall(SYS_pidfd_open, container, 0);
    pid_t pump = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    if (pump == 0) {
        (void)prctl(PR_SET_NAME, "aegis-logpump", 0, 0, 0);
        int keep[4] = { sink->stdout_fd, sink->stderr_fd, sink->dir_fd, pidfd };
        (void)shim_close_except(keep, 4);
        struct capped_log logs[2] = {
            { sink->stdout_fd, -1, "stdout.log", "stdout.log.tmp", 0, 0, 0 },
            { sink->stderr_fd, -1, "stderr.log", "stderr.log.tmp", 0, 0, 0 },
        };
        // A log that can't be opened is still drained (the agent must not block on a full pipe).
        for (int i = 0; i < 2; i++)
            if (logs[i].pipe_fd >= 0 && open_log(&logs[i], sink->dir_fd) < 0) logs[i].fd = -1;
        pump_loop(logs, 2, pidfd, sink->dir_fd, sink->cap_bytes);
        _exit(0);
    }
    // The supervisor keeps no read end: the pump alone drains the pipes.
    if (sink->stdout_fd >= 0) close(sink->stdout_fd);
    if (sink->stderr_fd >= 0) close(sink->stderr_fd);
    if (sink->dir_fd >= 0) close(sink->dir_fd);
    if (pidfd >= 0) close(pidfd);
    return pump;
}

void shim_log_pump_finish(pid_t pump) {
    if (pump <= 0) return;
    int pidfd = (int)syscall(SYS_pidfd_open, pump, 0);
    if (pidfd >= 0) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int64_t end = monotonic_ms() + PUMP_WAIT_MS;
        int rc;
        while ((rc = poll(&p, 1, (int)(end - monotonic_ms() > 0 ? end - monotonic_ms() : 0))) < 0 && errno == EINTR) {}
        if (rc == 0) (void)kill(pump, SIGKILL);  // stuck on a write (a hung disk): give up on the rest
        close(pidfd);
    }
    while (waitpid(pump, NULL, 0) < 0 && errno == EINTR) {}
}
