// internal.h — shared by the shim's .c files. Everything here is async-signal-safe: it is used in
// forked children of a multithreaded process (no malloc, no stdio, no locks).
#ifndef AEGIS_SHIM_INTERNAL_H
#define AEGIS_SHIM_INTERNAL_H

#include "aegis_shim.h"
#include <stddef.h>

/// Message from the container process (or supervisor) to whoever waits for the spawn result.
enum aegis_msg_kind {
    AEGIS_MSG_ERROR = 1,   // a step failed: step, err, detail
    AEGIS_MSG_READY = 2,   // create mode: waiting on the exec FIFO for `start`
    AEGIS_MSG_EXECED = 3,  // supervisor → caller: the process reached execve
    AEGIS_MSG_CHILD = 4,   // exec's joiner → caller: the pid of the process it cloned (`pid`)
};

struct aegis_msg {
    int32_t kind;
    int32_t step;
    int32_t err;
    int32_t pid;           // container pid (host view)
    int32_t supervisor_pid;
    int32_t used_clone3;
    char detail[AEGIS_DETAIL_MAX];
};

// util.c
size_t shim_strlen(const char *s);
void shim_strlcpy(char *dst, const char *src, size_t size);
/// Appends `src` to the NUL-terminated `dst` (capacity `size`); returns 0, or -1 when truncated.
int shim_strlcat(char *dst, const char *src, size_t size);
/// Decimal text of v into buf (capacity >= 24); returns buf.
char *shim_utoa(uint64_t v, char *buf);
char *shim_itoa(int64_t v, char *buf);
int shim_write_all(int fd, const void *buf, size_t len);
int shim_read_all(int fd, void *buf, size_t len);  // returns bytes read (< len on EOF), -1 on error
/// Sends an error message on fd (ignores failures; used on the way out).
void shim_send_error(int fd, int step, int err, const char *detail);
/// Closes every descriptor >= 3 except those in keep[0..n). Uses close_range(2).
int shim_close_except(const int *keep, int n);
/// mkdir -p of an absolute path (mode 0755); existing directories are fine.
int shim_mkdir_p(const char *path);
/// Writes a whole small file (O_WRONLY|O_TRUNC), for /proc/PID/{uid,gid}_map and cgroup files.
int shim_write_file(const char *path, const char *text);
int shim_write_file_at(int dirfd, const char *name, const char *text);
/// Resets every catchable signal to SIG_DFL and unblocks all signals.
void shim_reset_signals(void);

// child.c — the container process, from the sync pipe to execve. Never returns.
struct shim_child_fds {
    int sync_r;     // supervisor → child: uid/gid maps are written
    int err_w;      // child → supervisor: messages (O_CLOEXEC)
    int status_w;   // init → supervisor: agent's raw wait status (-1 without init)
    int unshare_cgroupns; // fallback path: unshare(CLONE_NEWCGROUP) after the cgroup move
};
void shim_child_main(const struct aegis_spawn_config *cfg, const struct shim_child_fds *fds)
    __attribute__((noreturn));
/// Reports (step, errno, detail) on the error pipe — and the exec FIFO once `start` opened it —
/// and exits (127 for the exec steps, else 1).
void shim_fail(int step, const char *detail) __attribute__((noreturn));
/// 1 when the spec joins a namespace of `type` (CLONE_NEW*) by path.
int shim_joins(const struct aegis_spawn_config *cfg, uint64_t type);
/// Where shim_fail reports (the container process's error pipe; exec.c sets its own).
void shim_set_error_fd(int fd);
// The process's own steps, shared by the container process and `exec` (exec.c), so that an exec'd
// process is confined by the very same code. Each reports its failure through shim_fail.
/// dup2 of stdin_fd/stdout_fd/stderr_fd onto 0, 1, 2 (-1: /dev/null).
void shim_setup_stdio(const struct aegis_spawn_config *cfg);
/// chdir to process.cwd resolved beneath `rootfd` (RESOLVE_IN_ROOT; after close_range).
void shim_enter_cwd(const struct aegis_spawn_config *cfg, int rootfd);
/// argv[0] through path_env, every candidate resolved inside the root, into `out`.
void shim_lookup_exec(const struct aegis_spawn_config *cfg, int rootfd, char *out, size_t size);
/// Installs the compiled seccomp program (none: nothing).
void shim_load_seccomp(const struct aegis_spawn_config *cfg);
/// Bounding set, groups, gid, uid, capset, ambient set.
void shim_set_credentials(const struct aegis_spawn_config *cfg);

// rootfs.c — the container's filesystem, before and through pivot_root.
/// Opens `target` (absolute, container view) beneath `rootfd` with openat2 RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS; -1 + errno.
int shim_open_in_root(int rootfd, const char *target, int flags);
/// Opens /dev/null (checked 1:3) and the exec FIFO for later, then — with a new or joined mount
/// namespace — mounts, /dev, linux.devices, masked/read-only paths, pivot_root, root flags.
void shim_setup_filesystem(const struct aegis_spawn_config *cfg, int *devnull_out, int *fifo_out);

// lease.c — the supervisor's dead man's switch (self-fencing).
struct shim_lease {
    const char *path;   // lease file (absolute), NULL: no lease
    int grace_ms;       // > 0
};
struct shim_fence {
    int fenced;         // 1 when the supervisor killed the sandbox because the lease lapsed
    int64_t age_ms;     // lease age at that moment (when stat worked)
    int stat_err;       // errno of stat(2) when the lease file could not be stat'ed, else 0
    int kill_step;      // AEGIS_STEP_CGROUP_KILL when cgroup.kill failed (SIGKILL was sent instead)
    int kill_err;
};
/// Waits until `pid` (a child of the caller) has exited, without reaping it. Meanwhile reads late
/// error messages from *err_fd (closed and set to -1 at EOF) and fences the sandbox when the lease
/// (required) lapses, then waits a bounded time for the cgroup to empty.
void shim_wait_watching_lease(pid_t pid, int *err_fd, int cgroup_fd, const struct shim_lease *lease,
                              struct shim_fence *fence, struct aegis_msg *late, int *have_late);
/// CLOCK_REALTIME in nanoseconds.
int64_t shim_realtime_ns(void);
/// `key value` from a flat-keyed cgroup file (memory.events, cgroup.events); -1 when absent.
int64_t shim_read_keyed(int dirfd, const char *file, const char *key);


#endif
