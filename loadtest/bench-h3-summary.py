"""The table bench-h3.sh prints: medians per (target, protocol), and h3 / h2 ratios.

Reads OUT/raw/{target}-h{2,3}-{rep}.json (edgeway-load reports) and .cpu files (server CPU
ticks over warm-up + measured window, and the percent of all CPUs other processes used).
"""

import json
import os
import statistics

out = os.environ["OUT"]
targets = os.environ["TARGET_LIST"].split()
reps = int(os.environ["REPS"])
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")


def seconds(d):
    if d.endswith("ms"):
        return float(d[:-2]) / 1000
    if d.endswith("s"):
        return float(d[:-1])
    if d.endswith("m"):
        return float(d[:-1]) * 60
    return float(d)


window = seconds(os.environ["DURATION"]) + seconds(os.environ["WARMUP"])


def run(target, http, rep):
    base = f"{out}/raw/{target}-h{http}-{rep}"
    total = json.load(open(base + ".json"))["total"]
    ticks, others = map(int, open(base + ".cpu").read().split())
    rps = total["answered_rps"]
    bad = total["sent"] - total["admitted"]
    cpu = ticks * tick_us / (rps * window) if rps else float("nan")
    return {"rps": rps, "p50": total["latency_ms"]["p50"], "p99": total["latency_ms"]["p99"],
            "cpu": cpu, "others": others, "bad": bad}


runs = {(t, h): [run(t, h, r) for r in range(1, reps + 1)] for t in targets for h in (2, 3)}
med = {k: {f: statistics.median(r[f] for r in rs) for f in ("rps", "p50", "p99", "cpu")}
       for k, rs in runs.items()}

lines = [f"Edgeway revision: {os.environ['REVISION']}", "",
         f"edgeway-load closed loop, {os.environ['WORKERS']} workers over "
         f"{os.environ['CONNECTIONS']} connections, TLS 1.3, {os.environ['DURATION']} measured after "
         f"{os.environ['WARMUP']} warm-up; {reps} interleaved repetitions, medians.", "",
         "| target | protocol | RPS (median) | p50 ms | p99 ms | RPS per run | p99 ms per run "
         "| server CPU us/req | others' CPU % per run |",
         "|---|---|---:|---:|---:|---|---|---:|---|"]
for (t, h), rs in runs.items():
    m = med[(t, h)]
    per_rps = " / ".join(f"{r['rps']:.0f}" for r in rs)
    per_p99 = " / ".join(f"{r['p99']:.2f}" for r in rs)
    others = " / ".join(str(r["others"]) for r in rs)
    lines.append(f"| {t} | h{h} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p99']:.2f} | "
                 f"{per_rps} | {per_p99} | {m['cpu']:.1f} | {others} |")
lines += ["", "| target | h3 / h2 RPS | h3 / h2 p99 |", "|---|---:|---:|"]
for t in targets:
    h2, h3 = med[(t, 2)], med[(t, 3)]
    lines.append(f"| {t} | {h3['rps'] / h2['rps']:.2f}x | {h3['p99'] / h2['p99']:.2f}x |")
bad = [f"{t} h{h} run {i + 1}: {r['bad']}" for (t, h), rs in runs.items()
       for i, r in enumerate(rs) if r["bad"]]
lines.append("")
lines.append("Requests without a 2xx answer: " + ("; ".join(bad) if bad else "none in any run."))
lines.append("")
lines.append("Load average before / after: "
             f"{open(out + '/loadavg-before').read().strip()} / "
             f"{open(out + '/loadavg-after').read().strip()}")
e = med[("edgeway-mock", 3)]["rps"] / med[("edgeway-mock", 2)]["rps"]
lines.append("")
# The verdict is the ratio; requests without a 2xx answer are listed above, to be read beside it.
lines.append(f"Edgeway h3 / h2 RPS (mock route): {e:.2f}x (target >= 0.70x: "
             f"{'met' if e >= 0.7 else 'NOT met'})")
print("\n".join(lines))
