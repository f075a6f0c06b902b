#!/usr/bin/env python3
"""Example AEGIS agent: reads a text file, analyses it, writes a JSON report.

Inside its sandbox the agent sees /work (its private, writable working directory, where the
input file was placed) and the host's system directories read-only. It writes its result under
/work/output, which the runtime keeps after the agent ends.
"""
import collections
import json
import os
import re
import sys

STOP = set("a an and are as at be by for from has have in is it its of on or that the this to was were will with".split())


def analyse(text):
    words = re.findall(r"[a-z']+", text.lower())
    sentences = [s for s in re.split(r"[.!?]+\s", text) if s.strip()]
    content = [w for w in words if w not in STOP and len(w) > 2]
    bigrams = collections.Counter(zip(content, content[1:]))
    return {
        "characters": len(text),
        "words": len(words),
        "distinct_words": len(set(words)),
        "sentences": len(sentences),
        "mean_sentence_words": round(len(words) / max(1, len(sentences)), 2),
        "top_words": collections.Counter(content).most_common(8),
        "top_bigrams": [[" ".join(b), n] for b, n in bigrams.most_common(5)],
    }


def sandbox_facts():
    with open("/proc/net/dev") as f:
        interfaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    return {"uid": os.getuid(), "pid": os.getpid(), "interfaces": interfaces,
            "visible_processes": sum(1 for p in os.listdir("/proc") if p.isdigit())}


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "input.txt"
    with open(source, encoding="utf-8") as f:
        report = analyse(f.read())
    report["sandbox"] = sandbox_facts()
    os.makedirs("output", exist_ok=True)
    with open("output/report.json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    print(f"analysed {source}: {report['words']} words, {report['sentences']} sentences")
    print("top words:", ", ".join(f"{w} ({n})" for w, n in report["top_words"]))
    print(f"sandbox: uid {report['sandbox']['uid']}, pid {report['sandbox']['pid']}, "
          f"interfaces {report['sandbox']['interfaces']}, {report['sandbox']['visible_processes']} processes visible")
    print("wrote output/report.json")


if __name__ == "__main__":
    main()
