#!/usr/bin/env python3
"""summarize.py — the summary table of Benchmarks/run.sh.

Reads DIR/hyperfine-R.json and DIR/inprocess-R.json for R = 1..ROUNDS, prints each round's
medians and ratios, then the median over rounds, and writes everything to --out (JSON).
All times in ms. Targets (from the issue): every ratio <= 1.00.
"""
import argparse
import json
import os
import platform
import statistics
import time

IN_PROCESS = "aegis-bench create+wait"


def round_medians(hf_path, ip_path):
    hf = json.load(open(hf_path))["results"]
    ip = json.load(open(ip_path))
    med = {r["command"]: r["median"] * 1000 for r in hf}
    med[IN_PROCESS] = ip["createWait"]["median"]
    med["aegis-bench create"] = ip["create"]["median"]
    med["aegis-bench wait"] = ip["wait"]["median"]
    med["aegis-bench delete"] = ip["delete"]["median"]
    return med, hf, ip


def ratios(med):
    crun_alone = med.get("crun-alone")
    estimate = med["crun-hybrid"] - med["cgroup2-mount-dance"]
    out = {
        "aegis-runtime run / crun as it must run here": med["aegis-runtime-run"] / med["crun-hybrid"],
        "in-process create+wait / bwrap": med[IN_PROCESS] / med["bwrap"],
    }
    if crun_alone:
        out["aegis-runtime run / crun alone"] = med["aegis-runtime-run"] / crun_alone
    else:
        out["aegis-runtime run / crun alone (estimate: crun-hybrid - mount dance)"] = med["aegis-runtime-run"] / estimate
    return out, estimate


def print_medians(paths):
    """`--medians FILE...`: one line per hyperfine command: median, p10, p90, mean (ms)."""
    for path in paths:
        for r in json.load(open(path))["results"]:
            t = sorted(r["times"])
            p = lambda q: t[min(len(t) - 1, int(q * len(t)))] * 1000
            print(f"   {r['command']:<40} median {r['median'] * 1000:7.2f}  p10 {p(0.1):7.2f}  "
                  f"p90 {p(0.9):7.2f}  mean {r['mean'] * 1000:7.2f} ms  (user {r['user'] * 1000:.1f}, sys {r['system'] * 1000:.1f})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medians", nargs="+")
    for name in ("--out", "--dir", "--load-before", "--load-after", "--state-parent", "--crun-alone-error", "--cpu", "--priority"):
        ap.add_argument(name, default="")
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    if a.medians:
        return print_medians(a.medians)

    rounds = []
    for r in range(1, a.rounds + 1):
        med, hf, ip = round_medians(os.path.join(a.dir, f"hyperfine-{r}.json"), os.path.join(a.dir, f"inprocess-{r}.json"))
        rat, est = ratios(med)
        med["crun alone (estimate)"] = est
        rounds.append({"medians_ms": med, "ratios": rat, "hyperfine": hf, "aegis_bench": ip})

    names = list(rounds[0]["medians_ms"])
    overall = {n: statistics.median(r["medians_ms"][n] for r in rounds) for n in names}
    ratio_names = list(rounds[0]["ratios"])
    overall_ratios = {n: statistics.median(r["ratios"][n] for r in rounds) for n in ratio_names}

    print(f"\nmedians in ms (state roots under {a.state_parent}; load {a.load_before} -> {a.load_after}; scheduling: {a.priority})")
    header = "".join(f"{'round ' + str(i + 1):>10}" for i in range(len(rounds)))
    print(f"  {'':<34}{header}{'median':>10}")
    for n in names:
        cells = "".join(f"{r['medians_ms'][n]:10.2f}" for r in rounds)
        print(f"  {n:<34}{cells}{overall[n]:10.2f}")
    if a.crun_alone_error:
        print(f"  crun alone cannot run on this host: {a.crun_alone_error.strip()}")
    print("\nratios (target <= 1.00)")
    for n in ratio_names:
        cells = "".join(f"{r['ratios'][n]:10.2f}" for r in rounds)
        verdict = "met" if overall_ratios[n] <= 1.0 else "NOT met"
        print(f"  {n:<70}{cells}{overall_ratios[n]:10.2f}  {verdict}")

    cpu_ms = {}
    if a.cpu and os.path.exists(a.cpu):
        for line in open(a.cpu):
            name, _, value = line.strip().partition("=")
            try:
                cpu_ms[name] = float(value)
            except ValueError:
                pass
    if cpu_ms:
        print("\nCPU time per start, ms (perf stat task-clock: user + kernel of every process, 30 runs;")
        print("in-process: create+wait+delete, (220 - 20 iterations) / 200)")
        for n, v in cpu_ms.items():
            print(f"  {n:<34}{v:10.2f}")
        if "crun-hybrid" in cpu_ms and "cgroup2-mount-dance" in cpu_ms:
            print(f"  {'crun alone (estimate)':<34}{cpu_ms['crun-hybrid'] - cpu_ms['cgroup2-mount-dance']:10.2f}")

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    summary = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"kernel": platform.release(), "cpus": os.cpu_count(), "cpu": cpu,
                    "loadavg_before": a.load_before, "loadavg_after": a.load_after,
                    "state_parent": a.state_parent, "scheduling": a.priority},
        "crun_alone_error": a.crun_alone_error or None,
        "medians_ms": overall, "ratios": overall_ratios, "cpu_ms": cpu_ms, "rounds": rounds,
    }
    json.dump(summary, open(a.out, "w"), indent=1)
    print(f"\nwritten: {a.out}")


if __name__ == "__main__":
    main()
