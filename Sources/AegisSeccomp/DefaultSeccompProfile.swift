// AEGIS's default seccomp profile for agent processes.
import AegisOCI

/// The default seccomp profile for AEGIS agents: an allowlist in the spirit of Docker's default
/// profile (moby `profiles/seccomp/default.json`), stricter because agents are untrusted code.
///
/// - Default action: `SCMP_ACT_ERRNO` with EPERM (1) — and, through the compiler's ENOSYS prefix,
///   ENOSYS for syscalls numbered above every syscall named here.
/// - Architectures: x86_64, x86 (i386) and x32 (a 64-bit kernel runs all three ABIs).
/// - Allowed: ordinary file, memory, signal, time, process, IPC and socket syscalls (networking is
///   confined by the network namespace, not by seccomp), enough for sh, coreutils, python3, node.
/// - `clone` only without namespace flags: `(flags & CLONE_NEW*) == 0` on argument 0
///   (`SCMP_CMP_MASKED_EQ`); `clone3` returns ENOSYS (38), because its flags live in memory that
///   seccomp can't inspect, so glibc falls back to `clone`.
/// - `personality` only for the standard values (PER_LINUX, PER_LINUX32, UNAME26 variants, query),
///   as Docker does.
/// - Explicitly denied with EPERM (named so the list documents intent and counts toward the ENOSYS
///   maximum): tracing and introspection (ptrace, process_vm_*, kcmp, pidfd_getfd, perf_event_open,
///   bpf), keyrings, userfaultfd, io_uring, namespaces (unshare, setns), every mount API, chroot and
///   pivot_root, module loading, kexec, reboot, swap, accounting, quotas, clock setting, syslog,
///   personality/vm86/iopl/ioperm/modify_ldt, file handles, and obsolete syscalls.
public enum DefaultSeccompProfile {
    /// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
    /// CLONE_NEWNET | CLONE_NEWTIME (<linux/sched.h>).
    public static let cloneNamespaceMask: UInt64 =
        0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000 | 0x80

    /// Syscalls allowed without conditions.
    public static let allowed: [String] = [
        // files and directories
        "access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range", "creat",
        "dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
        "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
        "fdatasync", "fgetxattr", "flistxattr", "flock", "fremovexattr", "fsetxattr", "fstat", "fstat64",
        "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd",
        "getdents", "getdents64", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
        "inotify_rm_watch", "ioctl", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listxattr",
        "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "mkdir",
        "mkdirat", "mknod", "mknodat", "newfstatat", "open", "openat", "openat2", "pipe", "pipe2",
        "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
        "readlink", "readlinkat", "readv", "removexattr", "rename", "renameat", "renameat2", "rmdir",
        "sendfile", "sendfile64", "setxattr", "splice", "stat", "stat64", "statfs", "statfs64", "statx",
        "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "tee", "truncate", "truncate64",
        "umask", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vmsplice",
        "write", "writev", "cachestat",
        // asynchronous I/O (not io_uring), polling, events
        "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup",
        "io_submit", "ioprio_get", "ioprio_set", "epoll_create", "epoll_create1", "epoll_ctl",
        "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd",
        "eventfd2", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select",
        "_newselect", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
        "timerfd_settime", "timerfd_settime64",
        // memory
        "brk", "get_mempolicy", "madvise", "mbind", "set_mempolicy", "membarrier", "memfd_create", "mincore", "mlock", "mlock2",
        "mlockall", "mmap", "mmap2", "mprotect", "mremap", "msync", "munlock", "munlockall", "munmap",
        "pkey_alloc", "pkey_free", "pkey_mprotect", "remap_file_pages",
        // processes, threads, scheduling
        "arch_prctl", "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "futex",
        "futex_time64", "futex_waitv", "get_robust_list", "get_thread_area", "getcpu", "getpgid",
        "getpgrp", "getpid", "getppid", "getpriority", "getrlimit", "getrusage", "getsid", "gettid",
        "nice", "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64", "restart_syscall", "rseq",
        "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
        "sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
        "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
        "seccomp", "set_robust_list", "set_thread_area", "set_tid_address", "setpgid", "setpriority",
        "setrlimit", "setsid", "ugetrlimit", "vfork", "wait4", "waitid", "waitpid",
        "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
        // credentials (changing them still needs CAP_SETUID/CAP_SETGID)
        "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
        "getresgid", "getresgid32", "getresuid", "getresuid32", "getuid", "getuid32", "setfsgid",
        "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
        "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
        "setreuid32", "setuid", "setuid32",
        // signals
        "kill", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
        "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
        "rt_tgsigqueueinfo", "sigaction", "sigaltstack", "signal", "sigpending", "sigprocmask",
        "sigreturn", "sigsuspend", "tgkill", "tkill",
        // time (reading and sleeping only)
        "alarm", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
        "clock_nanosleep", "clock_nanosleep_time64", "getitimer", "gettimeofday", "nanosleep",
        "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
        "timer_gettime64", "timer_settime", "timer_settime64", "times",
        // System V and POSIX IPC (confined by the IPC namespace)
        "ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
        "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd",
        "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget",
        // sockets (confined by the network namespace)
        "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
        "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg",
        "sendto", "setsockopt", "shutdown", "socket", "socketcall", "socketpair",
        // system information
        "getrandom", "sysinfo", "uname",
    ]

    /// Syscalls denied with EPERM on purpose (the default action would deny them too).
    public static let denied: [String] = [
        "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp", "pidfd_getfd",
        "perf_event_open", "bpf", "lookup_dcookie", "fanotify_init",
        "keyctl", "add_key", "request_key", "userfaultfd",
        "io_uring_setup", "io_uring_enter", "io_uring_register",
        "unshare", "setns",
        "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsmount", "fsconfig", "fspick",
        "move_mount", "open_tree", "mount_setattr",
        "init_module", "finit_module", "delete_module", "create_module", "get_kernel_syms",
        "query_module", "kexec_load", "kexec_file_load", "reboot",
        "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "nfsservctl", "uselib",
        "settimeofday", "clock_settime", "clock_settime64", "adjtimex", "clock_adjtime",
        "clock_adjtime64", "stime",
        "vm86", "vm86old", "iopl", "ioperm", "modify_ldt",
        "open_by_handle_at", "name_to_handle_at",
        "memfd_secret", "sethostname", "setdomainname",
    ]

    /// The profile (see the type's documentation).
    public static let profile: LinuxSeccomp = {
        var syscalls: [LinuxSyscall] = [LinuxSyscall(names: allowed, action: "SCMP_ACT_ALLOW")]
        // clone without CLONE_NEW* flags (x86: flags are argument 0).
        syscalls.append(
            LinuxSyscall(
                names: ["clone"], action: "SCMP_ACT_ALLOW",
                args: [
                    LinuxSeccompArg(index: 0, value: cloneNamespaceMask, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")
                ]))
        // personality: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, 0xffffffff (query).
        for value: UInt64 in [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff] {
            syscalls.append(
                LinuxSyscall(
                    names: ["personality"], action: "SCMP_ACT_ALLOW",
                    args: [
                        LinuxSeccompArg(index: 0, value: value, op: "SCMP_CMP_EQ")
                    ]))
        }
        syscalls.append(LinuxSyscall(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38))
        syscalls.append(LinuxSyscall(names: denied, action: "SCMP_ACT_ERRNO", errnoRet: 1))
        return LinuxSeccomp(
            defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1,
            architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            syscalls: syscalls)
    }()
}
