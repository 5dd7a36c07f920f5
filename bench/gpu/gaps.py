#!/usr/bin/env python3
"""gaps.py — Nsight Systems' GPU trace (nsys stats -r cuda_gpu_trace -f csv) of a resident
training run: per kernel (and copy) name, how often, its median duration, and the median
idle gap before it (from the end of the GPU work before it to its start), over the run's
middle half (warm, no epoch boundaries). What Nsight Compute's per-kernel times cannot show:
how much of a step is the kernels and how much is the time between them.
usage: gaps.py TRACE.csv   (used by bench/gpu/run.sh's timeline section)"""
import csv, statistics, sys, collections


def column(header, *names):
    for n in names:
        for i, h in enumerate(header):
            if h.strip().lower().startswith(n):
                return i
    raise SystemExit(f"gaps.py: no column {names[0]!r} in {header}")


rows = list(csv.reader(open(sys.argv[1], newline="")))
head = next(i for i, r in enumerate(rows) if any("Start" in c for c in r))
header, rows = rows[head], [r for r in rows[head + 1:] if len(r) == len(rows[head])]
start, dur, name = column(header, "start"), column(header, "duration"), column(header, "name")
ops = sorted((int(float(r[start])), int(float(r[dur])), r[name].split("(")[0].strip()[:50]) for r in rows)
ops = ops[len(ops) // 4: 3 * len(ops) // 4]
if len(ops) < 2:
    raise SystemExit("gaps.py: too few GPU operations in the trace")
durs, gaps = collections.defaultdict(list), collections.defaultdict(list)
for (s0, d0, _), (s1, d1, n1) in zip(ops, ops[1:]):
    durs[n1].append(d1)
    gaps[n1].append(max(0, s1 - (s0 + d0)))
span = ops[-1][0] + ops[-1][1] - ops[0][0]
busy = sum(d for _, d, _ in ops)
print(f"{len(ops)} GPU operations over {span / 1e3:.1f} us: busy {100 * busy / span:.1f}%, idle between them {100 - 100 * busy / span:.1f}%")
for n in sorted(durs, key=lambda k: -sum(durs[k])):
    print(f"{len(durs[n]):7d} x  {statistics.median(durs[n]) / 1e3:7.2f} us, gap before it {statistics.median(gaps[n]) / 1e3:6.2f} us  {n}")
