// aegis-probe — test helper run inside sandboxes. Prints one line per observation.
//
//   aegis-probe [attempts]   try denied/dangerous syscalls: "NAME RESULT" (RESULT: ok | EPERM | ENOSYS | …)
//   aegis-probe compat       x86 only: i386 (int 0x80) and x32 syscalls, each in a forked child
//   aegis-probe caps         CapInh/CapPrm/CapEff/CapBnd/CapAmb/NoNewPrivs/Seccomp lines of /proc/self/status
//   aegis-probe id           "uid R E S", "gid R E S", "groups G…"
//   aegis-probe fds          "fd N TARGET" for each open descriptor
//   aegis-probe hostname     the hostname alone
//   aegis-probe --install-filter FILE [--] [MODE]          install a raw BPF program, then run MODE
//   aegis-probe --install-filter FILE --exec PROG ARGS…    install it, then execv(PROG, [PROG, ARGS…])
//
// FILE holds struct sock_filter instructions (8 bytes each, host byte order). Installing sets
// no_new_privs first (seccomp(2) requires it without CAP_SYS_ADMIN). Every attempt uses syscall(2)
// directly so libc wrappers can't change the result, and is chosen to have no lasting effect when
// it is NOT blocked: mount uses a nonexistent filesystem type (ENODEV when permitted), reboot an
// invalid command, kexec_load an invalid flag (EINVAL when permitted); unshare and ptrace run in a
// forked child.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long rc) {
    int err = errno;
    if (rc >= 0) {
        printf("%s ok\n", name);
    } else {
        const char *en = strerrorname_np(err);
        if (en) printf("%s %s\n", name, en); else printf("%s errno%d\n", name, err);
    }
    fflush(stdout);
}

// Closes a descriptor an attempt unexpectedly obtained.
static long keep_rc_close(long rc) {
    if (rc >= 0) close((int)rc);
    return rc;
}

// clone(flags) in fork style; a child that was created exits at once.
static long try_clone(unsigned long flags) {
    long rc = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0) _exit(0);
    if (rc > 0) waitpid((pid_t)rc, NULL, 0);
    return rc;
}

// Runs an attempt whose success would change this process (new user namespace, being traced) in
// a forked child, so the attempts after it see an unchanged process. Inline when fork fails.
static void in_child(const char *name, long (*attempt)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) { errno = 0; report(name, attempt()); _exit(0); }
    if (pid < 0) { errno = 0; report(name, attempt()); return; }
    waitpid(pid, NULL, 0);
}

static long do_unshare(void) { return syscall(SYS_unshare, CLONE_NEWUSER); }
static long do_ptrace(void) { return syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0); }

static void attempts(void) {
    in_child("unshare", do_unshare);
    // A filesystem type that doesn't exist: the kernel checks CAP_SYS_ADMIN first (EPERM), then
    // fails with ENODEV, so a permitted mount shows as ENODEV and nothing is ever mounted.
    errno = 0; report("mount", syscall(SYS_mount, "none", "/tmp", "aegis-probe-nofs", 0UL, NULL));
    in_child("ptrace", do_ptrace);
    errno = 0; report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    errno = 0; report("bpf", syscall(SYS_bpf, 0, NULL, 0));
    // Valid magic numbers and an invalid command: EINVAL when not blocked, nothing changes.
    errno = 0; report("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, 0x7a7a7a7a, NULL));
    errno = 0; report("init_module", syscall(SYS_init_module, NULL, 0UL, ""));
    int ns = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
    errno = 0; report("setns", syscall(SYS_setns, ns, 0));
    if (ns >= 0) close(ns);
    // Zero segments with an unknown flag bit (0x100): EINVAL when not blocked (0 segments alone
    // would unload a loaded kexec image).
    errno = 0; report("kexec_load", syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0x100UL));
    struct { unsigned int bytes; int type; unsigned char data[16]; } handle;
    memset(&handle, 0, sizeof handle);
    errno = 0; report("open_by_handle_at", keep_rc_close(syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY)));
    errno = 0; report("nr1000", syscall(1000));
    errno = 0; report("clone3", syscall(SYS_clone3, NULL, 0UL));
    errno = 0; report("userfaultfd", keep_rc_close(syscall(SYS_userfaultfd, O_CLOEXEC)));
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    errno = 0; report("perf_event_open", keep_rc_close(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0UL)));
    unsigned char params[120];  // struct io_uring_params
    memset(params, 0, sizeof params);
    errno = 0; report("io_uring_setup", keep_rc_close(syscall(SYS_io_uring_setup, 1, params)));
    errno = 0; report("clone", try_clone(0));
    errno = 0; report("clone_newuser", try_clone(CLONE_NEWUSER));
}

#if defined(__x86_64__)
// The i386 ABI from a 64-bit process: seccomp sees AUDIT_ARCH_I386. r8–r11 are clobbered.
static long int80(long nr, long a1) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1) : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

// Runs one attempt in a child so a missing ABI (SIGSEGV without IA32 emulation) can't kill us.
static void compat_attempt(const char *name, int i386, long nr, long a1) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        long rc = i386 ? int80(nr, a1) : syscall(nr, a1, 0, 0, 0);
        if (i386 && rc < 0 && rc > -4096) { errno = (int)-rc; rc = -1; }
        report(name, rc);
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) { report(name, -1); return; }
    if (WIFSIGNALED(status)) { printf("%s %s\n", name, sigabbrev_np(WTERMSIG(status))); fflush(stdout); }
}

static void compat(void) {
    compat_attempt("i386_getpid", 1, 20, 0);
    compat_attempt("i386_ptrace", 1, 26, PTRACE_TRACEME);
    compat_attempt("i386_nr1000", 1, 1000, 0);
    compat_attempt("x32_getpid", 0, 0x40000000L | 39, 0);
    compat_attempt("x32_ptrace", 0, 0x40000000L | 521, PTRACE_TRACEME);
    compat_attempt("x32_nr1000", 0, 0x40000000L | 1000, 0);
}
#else
static void compat(void) { printf("compat unsupported\n"); }
#endif

static void caps(void) {
    static const char *keys[] = {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:"};
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) { perror("/proc/self/status"); exit(1); }
    char line[512];
    while (fgets(line, sizeof line, f))
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (strncmp(line, keys[i], strlen(keys[i])) == 0) fputs(line, stdout);
    fclose(f);
}

static void ids(void) {
    uid_t ru, eu, su; gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    printf("uid %u %u %u\ngid %u %u %u\ngroups", ru, eu, su, rg, eg, sg);
    gid_t groups[256];
    int n = getgroups(256, groups);
    for (int i = 0; i < n; i++) printf(" %u", groups[i]);
    printf("\n");
}

static void fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) { perror("/proc/self/fd"); exit(1); }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
        char path[300], target[4096];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = 0;
        printf("fd %s %s\n", e->d_name, target);
    }
    closedir(d);
}

static void hostname(void) {
    char name[256] = {0};
    if (gethostname(name, sizeof name - 1) != 0) { perror("gethostname"); exit(1); }
    printf("%s\n", name);
}

// Reads FILE, sets no_new_privs and installs the program with seccomp(2). Exits 125 on failure.
static void install_filter(const char *file) {
    static struct sock_filter insns[4096];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { fprintf(stderr, "aegis-probe: open %s: %s\n", file, strerror(errno)); exit(125); }
    ssize_t n = read(fd, insns, sizeof insns);
    close(fd);
    if (n <= 0 || n % (ssize_t)sizeof insns[0] != 0) {
        fprintf(stderr, "aegis-probe: %s: not a BPF program (%zd bytes)\n", file, n);
        exit(125);
    }
    struct sock_fprog prog = { .len = (unsigned short)(n / (ssize_t)sizeof insns[0]), .filter = insns };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("aegis-probe: no_new_privs"); exit(125); }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        fprintf(stderr, "aegis-probe: seccomp(SECCOMP_SET_MODE_FILTER): %s\n", strerrorname_np(errno));
        exit(125);
    }
}

int main(int argc, char **argv) {
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--install-filter") == 0) {
        install_filter(argv[i + 1]);
        i += 2;
        if (i < argc && strcmp(argv[i], "--exec") == 0) {
            if (i + 1 >= argc) { fprintf(stderr, "aegis-probe: --exec needs a program\n"); return 2; }
            execv(argv[i + 1], &argv[i + 1]);
            fprintf(stderr, "aegis-probe: execv %s: %s\n", argv[i + 1], strerrorname_np(errno));
            return 127;
        }
        if (i < argc && strcmp(argv[i], "--") == 0) i++;
    }
    const char *mode = i < argc ? argv[i] : "attempts";
    if (strcmp(mode, "attempts") == 0) attempts();
    else if (strcmp(mode, "compat") == 0) compat();
    else if (strcmp(mode, "caps") == 0) caps();
    else if (strcmp(mode, "id") == 0) ids();
    else if (strcmp(mode, "fds") == 0) fds();
    else if (strcmp(mode, "hostname") == 0) hostname();
    else { fprintf(stderr, "aegis-probe: unknown mode %s\n", mode); return 2; }
    return 0;
}
