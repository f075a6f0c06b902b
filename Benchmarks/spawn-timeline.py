#!/usr/bin/env python3
"""spawn-timeline.py TRACE — per-iteration timeline of aegis-bench's spawns from
`perf trace -e clone,clone3,execve,seccomp,exit_group,wait4 -o TRACE aegis-bench …`.

perf trace uses tracepoints (a few µs per traced call, and only these calls are traced), so
unlike strace the split is close to the real one. For each sandbox:
  fork -> clone3   the caller forks the intermediate, which forks the supervisor; the supervisor
                   resets signal handlers and calls clone3
  clone3           the clone3 call itself (new namespaces + CLONE_INTO_CGROUP)
  clone3 -> seccomp  in the container process: supervisor sync, setsid, stdio, mounts,
                   pivot_root, masked/read-only paths, hostname, rlimits, capabilities
  seccomp          the seccomp(2) call (filter install)
  seccomp -> execve end  from filter installed to /bin/true's image loaded
  execve end -> exit   /bin/true runs
  exit -> reaped   the supervisor's wait4 returns
Medians in ms over all sandboxes in the trace.
"""
import re
import statistics
import sys

LINE = re.compile(r'^\s*([\d.]+|\?) \(\s*([\d.]+)?\s*(?:ms)?\s*\): (\S*)/(\d+) (\.\.\. \[continued\]: )?(\w+)\((.*?)\)\s*(?:= (.*)|\.\.\.)?\s*$')


def main(path):
    events = []
    for raw in open(path):
        m = LINE.match(raw)
        if not m:
            continue
        t, dur, comm, pid, cont, call, _args, ret = m.groups()
        # "? (...)" lines are a child's side of clone/clone3: no timestamp, nothing to learn.
        if t == "?":
            continue
        # A call interrupted by another task's event is printed twice: "call(args) ..." (start)
        # and "... [continued]: call()) = ret" (same start time, with duration and result).
        events.append((float(t), float(dur) if dur else 0.0, comm, int(pid), bool(cont), call, ret or ""))
    main_pid = next((p for t, d, c, p, k, call, r in events if call == "clone"), None)
    if main_pid is None:
        sys.exit("no clone by the caller in " + path)
    sandboxes, current, supervisor = [], None, None
    first_int = lambda r: int(r.split()[0]) if r.split() and r.split()[0].isdigit() else None
    for t, dur, comm, pid, cont, call, ret in events:
        if call == "clone" and pid == main_pid and not cont:
            current = {"fork": t}
            sandboxes.append(current)
        elif current is None:
            continue
        elif call == "clone3":
            if not cont:
                current["clone3"] = t
                supervisor = pid
            if pid == supervisor and (dur or first_int(ret)):
                current["clone3_dur"] = dur
                current["container"] = first_int(ret)
        elif call == "seccomp" and pid == current.get("container"):
            if not cont:
                current["seccomp"] = t
            if dur:
                current["seccomp_dur"] = dur
        elif call == "execve" and pid == current.get("container") and dur:
            current["execve_end"] = t + dur
        elif call == "exit_group" and pid == current.get("container"):
            current["exit"] = t
        elif call == "wait4" and ret.split() and ret.split()[0] == str(current.get("container")) and "reaped" not in current:
            current["reaped"] = t + dur
    keys = ["fork", "clone3", "clone3_dur", "seccomp", "seccomp_dur", "execve_end", "exit", "reaped"]
    done = [s for s in sandboxes if all(k in s for k in keys)]
    if not done:
        sys.exit("no complete sandbox timeline in " + path)
    segments = [
        ("fork -> clone3 call (double fork, supervisor set-up)", lambda s: s["clone3"] - s["fork"]),
        ("clone3(2) itself (new namespaces, into the cgroup)", lambda s: s["clone3_dur"]),
        ("clone3 return -> seccomp (sync, mounts, pivot, caps)", lambda s: s["seccomp"] - s["clone3"] - s["clone3_dur"]),
        ("seccomp(2) filter install", lambda s: s["seccomp_dur"]),
        ("seccomp -> execve done", lambda s: s["execve_end"] - s["seccomp"] - s["seccomp_dur"]),
        ("/bin/true runs", lambda s: s["exit"] - s["execve_end"]),
        ("exit -> reaped by the supervisor", lambda s: s["reaped"] - s["exit"]),
        ("fork -> execve done", lambda s: s["execve_end"] - s["fork"]),
        ("fork -> reaped", lambda s: s["reaped"] - s["fork"]),
    ]
    print(f"   {len(done)} sandboxes; medians (p10-p90) in ms")
    for label, f in segments:
        v = sorted(f(s) for s in done)
        p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
        print(f"   {label:<52}{statistics.median(v):7.3f}  ({p(0.1):.3f}-{p(0.9):.3f})")


if __name__ == "__main__":
    main(sys.argv[1])
