#!/usr/bin/env python3
"""Tables of the gate's verdicts from measure.sh's compare JSON files (WORK/aa-I.json,
WORK/ab-I.json) and times (WORK/gates.txt). Usage: summarize.py WORK N
(N: the most gates of one kind; missing files are skipped)."""
import json
import statistics
import sys
from collections import defaultdict

work, n = sys.argv[1], int(sys.argv[2])
GATED = ("throughput", "rt_per_cpu")
SHOWN = GATED + ("cpu_us_per_rt",)
times = defaultdict(list)
exits = defaultdict(list)
for line in open(f"{work}/gates.txt"):
    kind, _, rc, exact, secs = line.split()
    times[kind].append(int(secs.split("=")[1]))
    exits[kind].append((int(rc.split("=")[1]), int(exact.split("=")[1])))


def load(kind):
    gates = []
    for i in range(1, n + 1):
        try:
            gates.append(json.load(open(f"{work}/{kind}-{i}.json")))
        except (OSError, ValueError):
            pass
    return gates


def table(kind, title):
    gates = load(kind)
    flagged = sum(1 for g in gates if g["regressions"] > 0)
    unknown = sum(1 for g in gates if g["unknown"])
    exact_fail = exact_failures(kind)
    failed = sum(1 for i, (rc, _) in enumerate(exits[kind]) if rc == 1 or exact_fail.get(i + 1))
    exact_failed = sum(1 for v in exact_fail.values() if v)
    print(f"### {title}\n")
    print(f"**The whole gate failed {failed} of {len(exits[kind])} times** "
          f"(exact figures: {exact_failed}; paired suite: see below).\n")
    print(f"{len(gates)} gates; **{flagged} flagged REGRESSED** "
          f"({flagged / max(len(gates), 1):.0%}); {unknown} ended with a scenario still unknown; "
          f"median {statistics.median(times[kind]) if times[kind] else 0:.0f} s a gate.\n")
    suspects = sum(1 for g in gates if g.get("suspects"))
    if any("family" in g for g in gates):
        print(f"{suspects} ended with a suspect (regressed at 95%, not at the family-wise level).\n")
    print("| scenario | metric | regressed | suspect | same | unknown | improved | median estimate | median pairs | median could show |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    cells = defaultdict(lambda: defaultdict(list))
    for g in gates:
        for s in g["scenarios"]:
            for r in s["rows"]:
                if r["metric"] in SHOWN:
                    c = cells[(s["scenario"], r["metric"])]
                    c["verdict"].append(r["verdict"])
                    if r.get("ratio"):
                        c["ratio"].append(r["ratio"])
                    c["n"].append(r.get("n") or 0)
                    if r.get("mde") is not None:
                        c["mde"].append(r["mde"])
    for (scenario, metric), c in sorted(cells.items()):
        v = c["verdict"]
        med = lambda xs, f: f(statistics.median(xs)) if xs else "-"
        print(f"| {scenario} | {metric}{'' if metric in GATED else ' (info)'} | {v.count('regressed')} | "
              f"{v.count('suspect')} | {v.count('same')} | {v.count('unknown')} | {v.count('improved')} | "
              f"{med(c['ratio'], lambda x: f'{x:.3f}×')} | {med(c['n'], lambda x: f'{x:.0f}')} | "
              f"{med(c['mde'], lambda x: f'±{x * 100:.1f}%')} |")
    print()
    exact_table(kind)


FIELD = {"instructions": "instructions_per_msg", "syscalls": "syscalls_per_rt",
         "context-switches": "ctx_switches_per_rt"}


def overlap(rep, workload, metric):
    """Whether the two builds' rounds overlap (loadgen exact's rule since 2026-12-08:
    a REGRESSED or improved figure whose rounds overlap reads noisy)."""
    field = FIELD.get(metric)
    if field is None:
        return False
    values = lambda b: [r[field] for r in rep.get("records", [])
                        if r["workload"] == workload and r["build"] == b and r.get(field) is not None]
    a, b = values("base"), values("new")
    return bool(a and b) and min(a) <= max(b) and min(b) <= max(a)


def exact_failures(kind):
    """Gate i -> whether its exact step fails under the overlap rule."""
    out = {}
    for i in range(1, n + 1):
        try:
            rep = json.load(open(f"{work}/{kind}-{i}-exact.json"))
        except (OSError, ValueError):
            continue
        out[i] = any(r.get("verdict") == "REGRESSED" and not overlap(rep, r["workload"], r["metric"])
                     for r in rep.get("rows", []))
    return out


def exact_table(kind):
    rows = defaultdict(list)
    for i in range(1, n + 1):
        try:
            rep = json.load(open(f"{work}/{kind}-{i}-exact.json"))
        except (OSError, ValueError):
            continue
        for r in rep.get("rows", []):
            if r.get("verdict") in ("REGRESSED", "improved") and overlap(rep, r["workload"], r["metric"]):
                r = dict(r, verdict="noisy")
            rows[(r["workload"], r["metric"])].append(r)
    if not rows:
        return
    print("Exact verdicts with the overlap rule (a figure whose base and new rounds overlap is "
          "noisy, never REGRESSED), applied to the recorded rounds.\n")
    print("| exact: workload | metric | REGRESSED | same | noisy | improved | median new/base |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (w, m), rs in sorted(rows.items()):
        v = [r.get("verdict") for r in rs]
        ratios = [r["ratio"] for r in rs if r.get("ratio")]
        med = f"{statistics.median(ratios):.4f}" if ratios else "-"
        print(f"| {w} | {m} | {v.count('REGRESSED')} | {v.count('same')} | {v.count('noisy')} | "
              f"{v.count('improved')} | {med} |")
    print()


table("aa", "A/A: the unchanged build against itself (false alarms)")
table("ab", "A/B: a spin loop after every read in echod's echo path (detection)")
