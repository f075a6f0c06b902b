// devices.c — the device cgroup of cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program built from
// device rules and attached to a sandbox's cgroup leaf (cgroup-v2.rst § Device controller; the
// kernel passes struct bpf_cgroup_dev_ctx { access_type = access << 16 | type, major, minor }).
// Runs in the caller (not between clone and execve); bpf(2) has no Glibc wrapper.
#include "aegis_shim.h"
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    struct bpf_insn i;
    memset(&i, 0, sizeof i);
    i.code = code; i.dst_reg = dst; i.src_reg = src; i.off = off; i.imm = imm;
    return i;
}

/// Instructions one rule needs: type, access (3), major, minor tests as present, then r0 = verdict, exit.
static int rule_length(const struct aegis_device_rule *r) {
    return (r->type != 'a') + (r->access != AEGIS_DEV_ACCESS_ALL ? 3 : 0) + (r->major >= 0) + (r->minor >= 0) + 2;
}

/// The first rule (from the end) that matches everything ends the program: the verifier refuses
/// instructions after it (unreachable), so earlier rules and the default deny are not emitted.
static int first_considered(const struct aegis_device_rule *rules, int n) {
    for (int i = n - 1; i >= 0; i--) if (rule_length(&rules[i]) == 2) return i;
    return -1;
}

int aegis_device_program(const struct aegis_device_rule *rules, int n, struct bpf_insn *out, int capacity) {
    int stop = first_considered(rules, n);
    int len = 6 + (stop < 0 ? 2 : 0);
    for (int i = n - 1; i >= 0 && i >= stop; i--) len += rule_length(&rules[i]);
    if (!out) return len;
    if (capacity < len) { errno = ENOSPC; return -1; }
    int k = 0;
    // r2 = device type, r3 = requested access, r4 = major, r5 = minor (all 32-bit loads).
    out[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0);
    out[k++] = insn(BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xffff);
    out[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 3, 1, 0, 0);
    out[k++] = insn(BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16);
    out[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0);
    out[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0);
    // Later rules win (config-linux.md § Device allowlist): test them last to first, first match decides.
    for (int i = n - 1; i >= 0 && i >= stop; i--) {
        const struct aegis_device_rule *r = &rules[i];
        int left = rule_length(r) - 2;  // tests before the verdict; each jump skips what is left of the rule
        if (r->type != 'a') {
            int type = r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
            out[k++] = insn(BPF_JMP32 | BPF_JNE | BPF_K, 2, 0, (int16_t)(left - 1 + 2), type);
            left -= 1;
        }
        if (r->access != AEGIS_DEV_ACCESS_ALL) {
            // Matches when the requested access is a subset of the rule's: (r3 & ~rule) == 0.
            out[k++] = insn(BPF_ALU | BPF_MOV | BPF_X, 1, 3, 0, 0);
            out[k++] = insn(BPF_ALU | BPF_AND | BPF_K, 1, 0, 0, (int32_t)(~r->access & AEGIS_DEV_ACCESS_ALL));
            out[k++] = insn(BPF_JMP32 | BPF_JNE | BPF_K, 1, 0, (int16_t)(left - 3 + 2), 0);
            left -= 3;
        }
        if (r->major >= 0) {
            out[k++] = insn(BPF_JMP32 | BPF_JNE | BPF_K, 4, 0, (int16_t)(left - 1 + 2), (int32_t)(uint32_t)r->major);
            left -= 1;
        }
        if (r->minor >= 0) {
            out[k++] = insn(BPF_JMP32 | BPF_JNE | BPF_K, 5, 0, (int16_t)(left - 1 + 2), (int32_t)(uint32_t)r->minor);
            left -= 1;
        }
        out[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, r->allow ? 1 : 0);
        out[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    }
    if (stop < 0) {
        out[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);  // no rule matched: deny
        out[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    }
    return k;
}

int aegis_device_filter_attach(int cgroup_fd, const struct aegis_device_rule *rules, int n,
                               char *detail, size_t detail_size) {
    if (detail_size) detail[0] = 0;
    int len = aegis_device_program(rules, n, NULL, 0);
    struct bpf_insn *prog = calloc((size_t)len, sizeof *prog);
    if (!prog) return -1;
    aegis_device_program(rules, n, prog, len);
    char log[4096];
    union bpf_attr load;
    memset(&load, 0, sizeof load);
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = (uint64_t)(uintptr_t)prog;
    load.insn_cnt = (uint32_t)len;
    load.license = (uint64_t)(uintptr_t)"Apache-2.0";
    int prog_fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
    if (prog_fd < 0) {
        int e = errno;
        // Load again with the verifier's log, for the error message.
        log[0] = 0;
        load.log_buf = (uint64_t)(uintptr_t)log;
        load.log_size = sizeof log;
        load.log_level = 1;
        int again = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load);
        if (again >= 0) close(again);
        if (detail_size) {
            strncpy(detail, log[0] ? log : "BPF_PROG_LOAD", detail_size - 1);
            detail[detail_size - 1] = 0;
        }
        free(prog);
        errno = e;
        return -1;
    }
    free(prog);
    union bpf_attr attach;
    memset(&attach, 0, sizeof attach);
    attach.target_fd = (uint32_t)cgroup_fd;
    attach.attach_bpf_fd = (uint32_t)prog_fd;
    attach.attach_type = BPF_CGROUP_DEVICE;
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach);
    int e = errno;
    close(prog_fd);  // the attachment keeps the program alive until the cgroup goes
    if (rc < 0 && detail_size) strncpy(detail, "BPF_PROG_ATTACH", detail_size - 1);
    errno = e;
    return rc < 0 ? -1 : 0;
}
