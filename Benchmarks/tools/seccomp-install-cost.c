// seccomp-install-cost.c — how long seccomp(SECCOMP_SET_MODE_FILTER) takes for a given program,
// measured in fresh forked children (each installs once, as a sandbox does).
//
//   seccomp-install-cost cached FILE.bpf [RUNS]
//       the program AEGIS cached on disk (<state root>/.seccomp/<key>.bpf, SeccompDiskCache layout:
//       "AEGSBPF1", u32 flags, u32 prefix, u32 json length, json, u32 count, count × 8 bytes)
//   seccomp-install-cost libseccomp NAMES.txt OPTIMIZE [RUNS]
//       a libseccomp filter: default ERRNO(1), ALLOW for each syscall name in NAMES.txt (one per
//       line), arches x86_64 + x86 + x32 (as the default profile), SCMP_FLTATR_CTL_OPTIMIZE =
//       OPTIMIZE (1: linear by priority, 2: binary tree)
//
// Prints the median, p10 and p90 in µs. Build: cc -O2 -o seccomp-install-cost seccomp-install-cost.c -lseccomp
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

static int load_cached(const char *path, struct sock_fprog *prog) {
    static unsigned char buf[1 << 20];
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n < 24 || memcmp(buf, "AEGSBPF1", 8) != 0) { fprintf(stderr, "%s: not an AEGIS seccomp cache file\n", path); return -1; }
    size_t off = 20 + le32(buf + 16);
    if (off + 4 > n) { fprintf(stderr, "%s: truncated\n", path); return -1; }
    uint32_t count = le32(buf + off);
    off += 4;
    if (off + (size_t)count * 8 != n) { fprintf(stderr, "%s: bad instruction count\n", path); return -1; }
    prog->len = (unsigned short)count;
    prog->filter = (struct sock_filter *)(buf + off);
    return 0;
}

static int build_libseccomp(const char *names, int optimize, struct sock_fprog *prog) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(1));
    if (!ctx || seccomp_arch_add(ctx, SCMP_ARCH_X86) || seccomp_arch_add(ctx, SCMP_ARCH_X32)) { fprintf(stderr, "seccomp_init/arch_add failed\n"); return -1; }
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, optimize) != 0) { fprintf(stderr, "SCMP_FLTATR_CTL_OPTIMIZE=%d unsupported\n", optimize); return -1; }
    FILE *f = fopen(names, "r");
    if (!f) { perror(names); return -1; }
    char line[128];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        int nr = seccomp_syscall_resolve_name(line);
        if (nr != __NR_SCMP_ERROR) seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    }
    fclose(f);
    FILE *t = tmpfile();
    if (!t || seccomp_export_bpf(ctx, fileno(t)) != 0) { fprintf(stderr, "seccomp_export_bpf failed\n"); return -1; }
    off_t len = lseek(fileno(t), 0, SEEK_END);
    void *buf = malloc((size_t)len);
    if (!buf || pread(fileno(t), buf, (size_t)len, 0) != len) { fprintf(stderr, "reading the exported program failed\n"); return -1; }
    fclose(t);
    seccomp_release(ctx);
    prog->len = (unsigned short)(len / 8);
    prog->filter = buf;
    return 0;
}

int main(int argc, char **argv) {
    struct sock_fprog prog;
    int runs = 200;
    if (argc >= 3 && strcmp(argv[1], "cached") == 0) {
        if (load_cached(argv[2], &prog)) return 1;
        if (argc > 3) runs = atoi(argv[3]);
    } else if (argc >= 4 && strcmp(argv[1], "libseccomp") == 0) {
        if (build_libseccomp(argv[2], atoi(argv[3]), &prog)) return 1;
        if (argc > 4) runs = atoi(argv[4]);
    } else {
        fprintf(stderr, "usage: %s cached FILE.bpf [RUNS] | libseccomp NAMES.txt OPTIMIZE [RUNS]\n", argv[0]);
        return 2;
    }
    if (runs < 10) runs = 10;
    double *us = calloc((size_t)runs, sizeof *us);
    for (int i = 0; i < runs; i++) {
        int p[2];
        if (pipe(p)) { perror("pipe"); return 1; }
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            struct timespec a, b;
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            clock_gettime(CLOCK_MONOTONIC, &a);
            long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
            clock_gettime(CLOCK_MONOTONIC, &b);
            double d = rc == 0 ? (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3 : -1;
            if (write(p[1], &d, sizeof d) != sizeof d) _exit(1);
            _exit(0);
        }
        if (read(p[0], &us[i], sizeof us[i]) != sizeof us[i]) us[i] = -1;
        close(p[0]);
        close(p[1]);
        waitpid(pid, NULL, 0);
        if (us[i] < 0) { fprintf(stderr, "seccomp(2) failed in the child\n"); return 1; }
    }
    qsort(us, (size_t)runs, sizeof *us, cmp);
    printf("%4u instructions: seccomp(2) install median %7.1f us  p10 %7.1f  p90 %7.1f  (%d runs)\n",
           prog.len, us[runs / 2], us[runs / 10], us[runs * 9 / 10], runs);
    return 0;
}
