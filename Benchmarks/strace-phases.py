#!/usr/bin/env python3
"""strace-phases.py TRACE — cuts `strace -f -ttt` output of one `aegis-runtime run` into phases.

Each phase ends at the first matching system call after the previous phase's end. strace slows
every system call (~0.05-0.1 ms here), so phases with many calls (library loading, mounts,
capability drops) are inflated the most; compare shares, not absolute times.
"""
import re
import sys

PHASES = [
    # (label, regex on the call text, which process: main/any)
    ("ld.so: load shared objects", r'^openat\(.*libBlocksRuntime\.so", .*= 3', "main"),
    ("Swift runtime + ArgumentParser start-up", r'^openat\(.*config\.json"', "main"),
    ("config.json read + parse + validate", r'^rt_sigprocmask\(SIG_BLOCK', "main"),
    ("runtime init (cgroup2 discovery) + state dir", r'^mkdir\("[^"]*/(?!\.)[^"/]+", 0711\) = 0', "main"),
    ("launch plan + seccomp disk-cache read", r'^openat\(.*\.seccomp/.*\.bpf"', "main"),
    ("cgroup leaf + fds", r'^clone\(', "main"),
    ("fork intermediate -> supervisor (signal reset)", r'^clone3\(', "any"),
    ("clone3 + sync + setsid + stdio (child up)", r'^mount\(NULL, "/", NULL, MS_REC', "any"),
    ("mounts (rootfs, proc, dev, sys, devices, masks)", r'^pivot_root\(', "any"),
    ("pivot_root, ro remount, lo up, hostname, rlimits", r'^close_range\(3,', "any"),
    ("signal reset + capability drops + setuid", r'^seccomp\(', "any"),
    ("seccomp(2) filter install", r'^execve\("/bin/true"', "any"),
    ("/bin/true runs and exits", r'^\+\+\+ exited with', "container"),
    ("supervisor: reap, outcome.json", r'^renameat\(.*"outcome\.json"\)', "any"),
    ("parent wakes (pidfd poll)", r'^<\.\.\. poll resumed>', "main"),
    ("delete: state reads, cgroup leaf rmdir", r'^rmdir\("/sys/fs/cgroup/', "main"),
    ("delete: outcome wait, rm -r state dir", r'^rmdir\("(?!/sys/)[^"]*/(?!\.)[^"/]+"\) = 0', "main"),
    ("exit", r'^exit_group\(', "main"),
]


def main(path):
    events = []
    for line in open(path):
        parts = line.split(None, 2)
        if len(parts) < 3:
            continue
        events.append((int(parts[0]), float(parts[1]), parts[2]))
    if not events:
        sys.exit("no events in " + path)
    main_pid, t0 = events[0][0], events[0][1]
    container = next((p for p, _, c in events if c.startswith('execve("/bin/true"')), None)
    i, last_t, rows = 0, t0, []
    for label, pattern, who in PHASES:
        rx = re.compile(pattern)
        j = i
        while j < len(events):
            pid, t, call = events[j]
            ok = rx.search(call) and (who == "any" or (who == "main" and pid == main_pid)
                                      or (who == "container" and pid == container))
            if ok:
                break
            j += 1
        if j == len(events):
            rows.append((label, None))
            continue
        rows.append((label, (events[j][1] - last_t) * 1000))
        last_t, i = events[j][1], j + 1
    total = (events[-1][1] - t0) * 1000
    print(f"   {'phase':<52}{'ms':>8}{'share':>8}")
    for label, ms in rows:
        if ms is None:
            print(f"   {label:<52}{'-':>8}")
        else:
            print(f"   {label:<52}{ms:8.2f}{100 * ms / total:7.1f}%")
    print(f"   {'total (execve of aegis-runtime -> last event)':<52}{total:8.2f}")
    # Not a phase of the critical path: the parent writes state.json while the container runs.
    execve = next((t for p, t, c in events if p == container and c.startswith('execve("/bin/true"')), None)
    state = next((t for p, t, c in events if p == main_pid and re.search(r'^rename\(.*state\.json"', c)), None)
    if execve is not None and state is not None:
        print(f"   (parent's state.json rename: {1000 * (state - execve):+.2f} ms from the container's execve)")
    print(f"   system calls traced: {len(events)}")


if __name__ == "__main__":
    main(sys.argv[1])
