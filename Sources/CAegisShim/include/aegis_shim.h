// aegis_shim.h — the C side of AEGIS sandboxes.
//
// Swift fills one `struct aegis_spawn_config` (plain C, pointers into the caller's memory) and calls
// `aegis_spawn`. Everything that must run in a forked child of the (multithreaded) Swift process
// lives here and uses raw system calls only: no malloc, no stdio, no locks.
//
// Process tree after a successful aegis_spawn (the caller is never the parent of either):
//
//   caller ──fork──> (intermediate, exits at once)
//                        └─fork──> supervisor  (setsid; records the outcome into the state dir)
//                                     └─clone3(namespaces, CLONE_INTO_CGROUP)──> container process
//                                                                                 (init → agent, or the
//                                                                                  spec's process as PID 1)
//
// Step order in the container process (crun/runc order, see docs/architecture.md):
//   sync with the supervisor (uid/gid maps written) → setsid → mounts → pivot_root → masked and
//   read-only paths → hostname → rlimits → close_range → cwd (in-root) → exec lookup (in-root) →
//   [wait for `start` on the exec fifo] → [raw clone of the agent; PID 1 execs aegis-init] →
//   setgroups/setgid/setuid → capabilities → no_new_privs → seccomp → execve.
// Rule for everything on that path: async-signal-safe calls only (raw system calls and the shim's
// own helpers; no malloc, stdio, locks, glibc fork or atfork handlers), because the process is a
// copy of a multithreaded daemon whose other threads may have held any lock at clone time. Every
// path the spec controls is resolved beneath the container's root (openat2 RESOLVE_IN_ROOT, magic
// links refused) and only after close_range left no descriptor of the host open.
// Every failing step reports (step, errno, detail) to the caller, which throws an error naming both.
#ifndef AEGIS_SHIM_H
#define AEGIS_SHIM_H

#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>
#include <linux/sched.h>   // CLONE_NEW* for Swift callers
#include <sys/signalfd.h>  // signalfd for the OCI CLI's signal forwarding
#include <sys/epoll.h>     // epoll for the worker's sandbox monitor
#include <seccomp.h>
#include <sys/capability.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The version of AEGIS's binaries. aegis and aegis-supervisor must be the same (the supervisor's
/// argv and the state it writes are a contract between them): the worker refuses to start with an
/// aegis-supervisor whose `--version` differs. Bump it with every change to that contract.
#define AEGIS_VERSION "0.14.0"

#define AEGIS_DETAIL_MAX 240
#define AEGIS_SPAWN_TIMEOUT_MS 60000
#define AEGIS_MAX_JOIN 7

/// Steps of the spawn sequence; `aegis_step_name` gives their names for error messages.
enum aegis_step {
    AEGIS_STEP_NONE = 0,
    AEGIS_STEP_PIPE,             // pipe2 for sync/report channels (caller)
    AEGIS_STEP_FORK,             // fork of the intermediate / supervisor
    AEGIS_STEP_CLONE3,           // clone3 with namespace flags and CLONE_INTO_CGROUP
    AEGIS_STEP_CGROUP_ATTACH,    // fallback: write pid to cgroup.procs
    AEGIS_STEP_SETGROUPS_DENY,   // write "deny" to /proc/PID/setgroups
    AEGIS_STEP_UID_MAP,          // write /proc/PID/uid_map
    AEGIS_STEP_GID_MAP,          // write /proc/PID/gid_map
    AEGIS_STEP_SYNC,             // wait for the supervisor's go-ahead
    AEGIS_STEP_SETNS_NET,        // setns(2) into a namespace joined by path (detail: its type)
    AEGIS_STEP_SETSID,
    AEGIS_STEP_STDIO,            // dup2 of stdin/stdout/stderr
    AEGIS_STEP_OOM_SCORE_ADJ,    // write /proc/self/oom_score_adj (process.oomScoreAdj)
    AEGIS_STEP_SYSCTL,           // write one namespaced sysctl (detail: /proc/sys path)
    AEGIS_STEP_ROOT_PROPAGATION, // make / private/slave (MS_REC)
    AEGIS_STEP_ROOTFS_BIND,      // bind the rootfs onto itself
    AEGIS_STEP_MOUNT,            // one spec mount (detail: destination)
    AEGIS_STEP_DEVICES,          // /dev nodes bound from the host, symlinks
    AEGIS_STEP_PIVOT_ROOT,
    AEGIS_STEP_UMOUNT_OLD_ROOT,
    AEGIS_STEP_ROOT_READONLY,
    AEGIS_STEP_DEVNULL_CHECK,    // /dev/null must be char device 1:3 before it masks anything
    AEGIS_STEP_MASKED_PATH,      // detail: path
    AEGIS_STEP_READONLY_PATH,    // detail: path
    AEGIS_STEP_LOOPBACK,         // bring "lo" up in a new network namespace
    AEGIS_STEP_HOSTNAME,
    AEGIS_STEP_DOMAINNAME,
    AEGIS_STEP_RLIMIT,           // detail: resource number
    AEGIS_STEP_CLOSE_RANGE,
    AEGIS_STEP_CWD,              // chdir to process.cwd
    AEGIS_STEP_EXEC_LOOKUP,      // resolve args[0] through PATH (detail: name)
    AEGIS_STEP_EXEC_FIFO,        // wait for `start`
    AEGIS_STEP_INIT_FORK,        // PID-1 init clones the agent (raw clone, no glibc fork)
    AEGIS_STEP_INIT_EXEC,        // PID 1 execs aegis-init from its sealed memfd (init_fd)
    AEGIS_STEP_CAPBSET_DROP,
    AEGIS_STEP_KEEPCAPS,
    AEGIS_STEP_SETGROUPS,
    AEGIS_STEP_SETGID,
    AEGIS_STEP_SETUID,
    AEGIS_STEP_CAPSET,
    AEGIS_STEP_AMBIENT,
    AEGIS_STEP_NO_NEW_PRIVS,
    AEGIS_STEP_SECCOMP,
    AEGIS_STEP_EXECVE,
    AEGIS_STEP_SUPERVISOR,       // supervisor-side failure (report channel)
    AEGIS_STEP_CGROUP_KILL,      // supervisor: write "1" to cgroup.kill when fencing
    AEGIS_STEP_ROOTFS_MOUNT,     // a file system mounted as the root (root_mount; e.g. overlay)
    AEGIS_STEP_IDMAP,            // an ID-mapped mount: its user namespace, open_tree, mount_setattr, move_mount
    AEGIS_STEP_DUMPABLE,         // exec: prctl(PR_SET_DUMPABLE, 0) before joining the container
    AEGIS_STEP_CHROOT,           // exec: chroot to the container process's root (no mount namespace of its own)
    AEGIS_STEP_COUNT
};

/// Returns the stable lower-case name of a step ("clone3", "pivot_root", …).
const char *aegis_step_name(int step);

/// Kinds of mounts the child performs.
enum aegis_mount_kind {
    AEGIS_MOUNT_FS = 0,     // mount(source, target, fstype, flags, data)
    AEGIS_MOUNT_BIND = 1,   // bind source (host path, resolved before pivot) onto target
};

/// One mount, already translated from OCI options by Swift (AegisSandbox/Mounts.swift).
struct aegis_mount {
    int kind;                  // enum aegis_mount_kind
    const char *source;        // host path for binds; source string for fs mounts (may be NULL)
    const char *target;        // absolute path inside the container rootfs
    const char *fstype;        // for AEGIS_MOUNT_FS ("proc", "tmpfs", "devpts", "mqueue", "sysfs", …)
    unsigned long flags;       // MS_* flags for the first mount call (MS_BIND|MS_REC for rbind)
    unsigned long propagation; // MS_PRIVATE/MS_SLAVE/MS_SHARED (+MS_REC) applied after, or 0
    const char *data;          // mount data (e.g. "mode=755,size=65536k"), or NULL
    int remount_flags_needed;  // bind with ro/nosuid/nodev/noexec: remount with MS_BIND|MS_REMOUNT|flags
    int target_is_file;        // create an empty file (not a directory) as the mount point
};

/// One device node the container process creates (OCI linux.devices): mknod in-root, then owner and
/// mode; in a user namespace (mknod EPERM) the host's node of the same path is bound instead.
struct aegis_dev_node {
    const char *path;          // absolute, container view
    unsigned int mode;         // S_IFCHR/S_IFBLK/S_IFIFO | permission bits
    uint64_t rdev;             // makedev(major, minor)
    uint32_t uid, gid;
};

/// One rlimit (RLIMIT_* number, soft, hard).
struct aegis_rlimit {
    int resource;
    const char *name;          // "RLIMIT_NOFILE", for error messages
    uint64_t soft;
    uint64_t hard;
};

/// One /dev node bound from the host into the container's tmpfs /dev.
struct aegis_device {
    const char *host_path;     // e.g. "/dev/null"
    const char *target;        // e.g. "/dev/null" (inside the container)
};

/// Everything the supervisor and the container process need. Filled by Swift; all pointers refer
/// to memory that stays valid for the duration of aegis_spawn (fork copies it).
struct aegis_spawn_config {
    // --- clone ---
    uint64_t clone_flags;          // CLONE_NEW* flags
    int cgroup_fd;                 // O_DIRECTORY fd of the sandbox's cgroup leaf, or -1 (the clone
                                   // fallback writes the pid to cgroup.procs through it)
    int force_clone_fallback;      // testing: skip clone3 and use clone + cgroup.procs

    // --- user namespace ---
    const char *uid_map;           // contents for /proc/PID/uid_map ("0 100000 65536\n"), or NULL
    const char *gid_map;
    int setgroups_deny;            // write "deny" to /proc/PID/setgroups before gid_map

    // --- stdio: fds in the caller, dup2'ed to 0/1/2 in the container (-1: /dev/null) ---
    int stdin_fd, stdout_fd, stderr_fd;

    // --- filesystem ---
    const char *rootfs;            // absolute host path of the rootfs
    int chroot_rootfs;             // no mount namespace of its own (inherited): chroot into rootfs,
                                   // mount nothing (LaunchPlan refused anything that would)
    int root_readonly;
    unsigned long root_propagation;// MS_PRIVATE|MS_REC by default, or MS_SLAVE|MS_REC, during the set-up
    unsigned long root_propagation_final; // applied to "/" after pivot_root (MS_SHARED, MS_UNBINDABLE
                                   // [+MS_REC]: pivot_root refuses them earlier), or 0
    const struct aegis_mount *root_mount; // a spec mount at "/" (e.g. an image's overlay): mounted
                                   // on `rootfs` in place of binding it onto itself, or NULL
    const char *root_idmap_path;   // with root_mount: this directory (the overlay's lowest layer)
                                   // is first covered by an ID-mapped clone of itself (this mount
                                   // namespace only), mapped by the user namespace root_idmap_userns_fd
    int root_idmap_userns_fd;
    const char *root_upper_tmpfs;  // with root_mount: a tmpfs mounted here first (this mount
                                   // namespace only), holding the overlay's upper/ and work/
    const char *root_upper_tmpfs_data;  // its mount data ("size=N,mode=0700")
    const struct aegis_mount *mounts; int n_mounts;
    const struct aegis_device *devices; int n_devices;  // bound into /dev when /dev is a tmpfs
    int setup_dev_symlinks;        // /dev/fd, /dev/std{in,out,err}, /dev/ptmx, /dev/core
    const struct aegis_dev_node *dev_nodes; int n_dev_nodes;  // linux.devices
    const char *const *masked_paths; int n_masked;
    const char *const *readonly_paths; int n_readonly;

    // Namespaces joined by path (OCI linux.namespaces[].path): fds opened by the caller and their
    // CLONE_NEW* types, whose flags are then not in clone_flags. The supervisor joins a pid
    // namespace before clone3 (it applies to children only); the container process joins user
    // first, then ipc, uts, net, cgroup and mount, before any mount.
    const int *join_fds;
    const uint64_t *join_types;
    int n_join;                    // at most AEGIS_MAX_JOIN
    int loopback_up;               // new network namespace: set "lo" up (it starts down)

    // --- before the filesystem set-up (the host's /proc still reachable; it shows this process's
    //     namespaces) ---
    int has_oom_score_adj;         // 1: write oom_score_adj (process.oomScoreAdj, -1000...1000)
    int oom_score_adj;
    const char *const *sysctl_paths;  // "/proc/sys/net/ipv4/ip_forward" (validated: namespaced keys only)
    const char *const *sysctl_values;
    int n_sysctl;

    // --- identity ---
    const char *hostname;          // NULL: leave unchanged
    const char *domainname;
    const struct aegis_rlimit *rlimits; int n_rlimits;

    // --- process ---
    const char *cwd;
    const char *const *argv;       // NULL-terminated
    const char *const *envp;       // NULL-terminated
    const char *path_env;          // PATH value used to resolve argv[0] when it has no '/'
    uint32_t uid, gid;
    const uint32_t *additional_gids; int n_additional_gids;
    int no_new_privs;
    // Capability sets as 64-bit masks (bit N = capability N).
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int last_cap;                  // highest capability number the kernel knows (cap_last_cap)

    // --- seccomp: a compiled classic-BPF program (NULL: none) ---
    const struct sock_filter *seccomp_filter; unsigned short seccomp_len;
    unsigned int seccomp_flags;    // SECCOMP_FILTER_FLAG_* for seccomp(2)

    // --- lifecycle ---
    int use_init;                  // 1: a tiny init is PID 1 and forks the process (AEGIS agents)
    int init_fd;                   // with use_init: fd of the aegis-init executable (a sealed memfd,
                                   // see SandboxInit) that PID 1 execs, so that nothing of the
                                   // daemon shows in /proc/1 inside the sandbox; -1: none
    const char *exec_fifo;         // non-NULL: block before execve until `start` opens this FIFO
    int state_dir_fd;              // directory fd where the supervisor writes outcome.json (-1: none)
    const char *supervisor_path;   // aegis-supervisor executable; NULL: supervise in the forked copy
    int supervisor_exec_delay_ms;  // supervise in the forked copy for this long first; exec only if
                                   // the process is still running then (short jobs skip the exec)
    int64_t started_at_ns;         // CLOCK_REALTIME at the caller's start, recorded in the outcome
    int spawn_timeout_ms;          // aegis_spawn waits at most this long for the set-up's report
                                   // (0: AEGIS_SPAWN_TIMEOUT_MS), then kills the supervisor and fails

    // --- self-fencing (dead man's switch) ---
    const char *lease_file;        // absolute path whose mtime the node daemon keeps fresh, or NULL
    int lease_grace_ms;            // > 0 with lease_file: once CLOCK_REALTIME - st_mtim exceeds it (or
                                   // the file can't be stat'ed), the supervisor kills the cgroup

    // --- capped logs (log_cap_bytes > 0): stdout_fd/stderr_fd are the write ends of pipes ---
    int log_stdout_fd, log_stderr_fd; // their read ends (-1: that stream is not captured)
    int log_dir_fd;                // directory receiving stdout.log / stderr.log
    int64_t log_cap_bytes;         // each file at most this many bytes (>= 4096); 0: no capped logs
};

/// Capped logs (see aegis_supervise): the read ends of the container's stdout/stderr pipes and
/// the directory whose stdout.log / stderr.log receive them, each kept at most `cap_bytes` long.
struct aegis_log_sink {
    int stdout_fd, stderr_fd;      // pipe read ends, -1: not captured
    int dir_fd;
    int64_t cap_bytes;             // > 0 (>= 4096)
};

/// The longest marker line a capped log starts with ("[aegis: N earlier bytes dropped]\n"), bytes.
#define AEGIS_LOG_MARKER_MAX 64
/// N of the marker line "[aegis: N earlier bytes dropped]\n" at the start of `head` (`len`
/// bytes), its length in *marker_len; -1 when `head` does not start with one. Readers of a capped
/// log use it to map offsets in the file to offsets in everything the process wrote.
int64_t aegis_log_marker_parse(const char *head, int64_t len, int64_t *marker_len);
/// pipe2(fds, O_CLOEXEC) for a capped log (Glibc's module does not export pipe2 to Swift).
int aegis_log_pipe(int fds[2]);

/// Result of aegis_spawn.
struct aegis_spawn_result {
    pid_t pid;                     // container process pid (in the caller's pid namespace)
    pid_t supervisor_pid;          // the supervisor's pid
    int used_clone3;               // 1 when clone3 + CLONE_INTO_CGROUP was used, 0 for the fallback
    // On failure:
    int step;                      // enum aegis_step
    int err;                       // errno
    char detail[AEGIS_DETAIL_MAX]; // path, name or number the step was working on
};

/// Starts a sandbox as described. Returns 0 when the container process reached execve (or, with
/// `exec_fifo`, when it is waiting for `start`); -1 on failure with result->step/err/detail set.
/// On failure no process is left running; the caller removes its cgroup and state dir.
int aegis_spawn(const struct aegis_spawn_config *config, struct aegis_spawn_result *result);

/// `start`: opens the exec FIFO for reading, which releases the waiting container process; then
/// reads until EOF. Returns 0 when the process reached execve; -1 with step/err/detail when a
/// step after the FIFO failed (the container process reported it through the FIFO), or errno in
/// `err` with step AEGIS_STEP_EXEC_FIFO when the FIFO can't be opened.
int aegis_start(const char *exec_fifo, struct aegis_spawn_result *result);

/// Supervision after the container process started: waits for it (and, with `use_init`, reads the
/// agent's raw wait status from `status_fd`), reads the cgroup's memory.events/memory.peak through
/// `cgroup_fd`, and writes `outcome.json` atomically into `state_dir_fd`. Relays a late error (after
/// `start`) from `err_fd`. Used both in-process and as the main of the aegis-supervisor executable.
///
/// With `lease_file` (absolute path) and `lease_grace_ms` > 0 it is also the sandbox's dead man's
/// switch: while waiting it stats the lease file at least once a second (and just after the current
/// deadline, st_mtim + grace). When CLOCK_REALTIME - st_mtim > grace, or stat fails, it kills the
/// whole cgroup (cgroup.kill, cgroup-v2.rst § Core Interface Files; SIGKILL of `pid` if that
/// fails), waits up to 2 s for cgroup.events `populated 0`, and records `"fenced":true` with
/// `leaseAgeMs` (or `leaseErrno`) in the outcome. Never returns.
///
/// With `logs` (NULL: none) a forked "log pump" drains the container's stdout/stderr pipes into
/// stdout.log / stderr.log under logs->dir_fd, each capped as it is written: a write that would
/// take a file past cap_bytes first replaces it by its newest half (from a line start) behind the
/// line "[aegis: N earlier bytes dropped]" (N: all bytes dropped from that log so far). The
/// outcome is written only after the pump has drained the pipes (EOF, or 2 s after the container
/// process exited), so the logs are complete when the exit is reported.
void aegis_supervise(pid_t pid, int err_fd, int status_fd, int cgroup_fd, int state_dir_fd,
                     int64_t started_at_ns, const char *lease_file, int lease_grace_ms,
                     const struct aegis_log_sink *logs) __attribute__((noreturn));

/// Result of aegis_idmap_userns: on failure the step, errno and detail.
struct aegis_idmap_result {
    int step;
    int err;
    char detail[AEGIS_DETAIL_MAX];
};

/// A user namespace whose uid_map and gid_map are `uid_map` and `gid_map` (lines "INSIDE OUTSIDE
/// COUNT\n"), for ID-mapped mounts: a file whose on-disk owner is INSIDE+k appears owned by
/// OUTSIDE+k through such a mount. Returns its fd (O_CLOEXEC), or -1 with `res` filled.
int aegis_idmap_userns(const char *uid_map, const char *gid_map, struct aegis_idmap_result *res);

/// Result of aegis_run_hook.
struct aegis_hook_result {
    int status;                    // raw wait status of the hook (when it ran)
    int timed_out;                 // 1: killed (SIGKILL) because its timeout passed
    int step;                      // on failure to run it: enum aegis_step, errno and detail
    int err;
    char detail[AEGIS_DETAIL_MAX];
};

/// Runs `path` with `argv`/`envp`, writing `state` (the OCI state JSON) to its stdin; with
/// `ns_pid` > 0 inside that process's ipc, uts, net, cgroup and mount namespaces (createContainer,
/// startContainer); kills it after `timeout_ms` (> 0). stdout/stderr are the caller's. Returns 0
/// when the hook ran (see status/timed_out), -1 with step/err/detail when it could not be started.
int aegis_run_hook(const char *path, const char *const argv[], const char *const envp[], const void *state, size_t state_len,
                   pid_t ns_pid, int timeout_ms, struct aegis_hook_result *res);

/// `exec` (runc exec): a further process in a running sandbox. Swift verified the container's
/// process (its pidfd, opened before its start time was checked) and opened its cgroup leaf; the
/// shim runs what lies between clone and execve (exec.c):
///
///   caller ──clone──> joiner: dumpable 0 → close_range → oom_score_adj → setns(pidfd, ns_flags)
///                     → [chroot to root_fd] → clone3(CLONE_PARENT | CLONE_INTO_CGROUP) → reports
///                     the child's pid, lets it go, exits
///   caller's child:   in the container's pid namespace and cgroup: setns(pidfd, cgroup) → setsid →
///                     stdio → rlimits → close_range → cwd (in-root) → exec lookup (in-root) →
///                     [seccomp] → credentials → no_new_privs → seccomp → execve
///
/// The child is the caller's (CLONE_PARENT): the caller waits for it. Both stay non-dumpable until
/// execve, so no process of the container can reach them (ptrace, /proc/PID/{root,cwd,fd,exe}:
/// CVE-2016-9962) while they hold the runtime's privileges.
struct aegis_exec_config {
    const struct aegis_spawn_config *process; // the process: stdin_fd/stdout_fd/stderr_fd (open, never
                                   // -1), has_oom_score_adj/oom_score_adj, rlimits, cwd, argv, envp,
                                   // path_env, uid, gid, additional_gids, setgroups_deny,
                                   // no_new_privs, cap_*, last_cap, seccomp_*; other fields unused
    int pidfd;                     // pidfd of the container's process (namespaces are joined through it)
    uint64_t ns_flags;             // CLONE_NEW* joined by the joiner in one setns(pidfd): mnt, pid, ipc,
                                   // uts, net, and user when the container's differs from the caller's
    int join_cgroupns;             // 1: the child joins the cgroup namespace, once it is in the cgroup
    int cgroup_fd;                 // O_DIRECTORY fd of the sandbox's cgroup leaf, or -1
    int root_fd;                   // directory to chroot into (the container process's root when
                                   // it has no mount namespace of its own), or -1
    int setup_timeout_ms;          // the set-up must reach execve within this (0: AEGIS_SPAWN_TIMEOUT_MS)
};

/// Result of aegis_exec_start.
struct aegis_exec_result {
    pid_t pid;                     // the exec'd process (the caller's child), host pid; 0 on failure
    int step;                      // on failure: enum aegis_step, errno and detail
    int err;
    char detail[AEGIS_DETAIL_MAX];
};

/// Starts the process of `cfg` inside the sandbox. Returns 0 once it reached execve (the caller then
/// waits for `res->pid`, its child), or -1 with step/err/detail; on failure no process is left
/// (the joiner and the child are killed and reaped) and every descriptor the call made is closed.
int aegis_exec_start(const struct aegis_exec_config *cfg, struct aegis_exec_result *res);

/// One device cgroup rule (OCI linux.resources.devices[], after defaults were added by Swift).
#define AEGIS_DEV_ACCESS_MKNOD 1   // BPF_DEVCG_ACC_MKNOD
#define AEGIS_DEV_ACCESS_READ 2    // BPF_DEVCG_ACC_READ
#define AEGIS_DEV_ACCESS_WRITE 4   // BPF_DEVCG_ACC_WRITE
#define AEGIS_DEV_ACCESS_ALL 7
struct aegis_device_rule {
    int allow;                     // 1: allow, 0: deny
    char type;                     // 'a' (any), 'b' (block), 'c' (char)
    int64_t major, minor;          // -1: any
    unsigned access;               // AEGIS_DEV_ACCESS_* bits
};

/// Writes the BPF_PROG_TYPE_CGROUP_DEVICE program for `rules` into `out` (later rules win; no
/// match denies) and returns its length; with `out` NULL returns the length needed. -1 + ENOSPC
/// when `capacity` is too small.
struct bpf_insn;
int aegis_device_program(const struct aegis_device_rule *rules, int n, struct bpf_insn *out, int capacity);

/// Loads that program and attaches it to the cgroup2 directory `cgroup_fd` (BPF_CGROUP_DEVICE,
/// BPF_F_ALLOW_MULTI). 0, or -1 + errno with `detail` naming the bpf(2) command or the verifier's log.
int aegis_device_filter_attach(int cgroup_fd, const struct aegis_device_rule *rules, int n,
                               char *detail, size_t detail_size);

#ifdef __cplusplus
}
#endif
#endif
