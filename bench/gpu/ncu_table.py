#!/usr/bin/env python3
"""ncu_table.py — Nsight Compute's CSV (ncu --csv --metrics gpu__time_duration.sum ...) on
stdin, one line per kernel name out: launches, mean and total µs, share of the total;
the largest first. Used by bench/gpu/run.sh's profile sections."""
import csv, sys, collections
scale = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6, "s": 1e6}
rows = [l for l in sys.stdin if l.startswith('"')]
tot = collections.defaultdict(float); cnt = collections.Counter()
for r in csv.DictReader(rows):
    if r.get("Metric Name") != "gpu__time_duration.sum": continue
    name = r["Kernel Name"].split("(")[0].strip()[:60]
    v = float(r["Metric Value"].replace(",", "")) * scale.get(r.get("Metric Unit", "ns"), 1e-3)
    tot[name] += v; cnt[name] += 1
all_us = sum(tot.values()) or 1.0
for name, v in sorted(tot.items(), key=lambda kv: -kv[1]):
    print(f"{cnt[name]:6d} x {v / cnt[name]:9.2f} us = {v:10.1f} us ({100 * v / all_us:4.1f}%)  {name}")
print(f"total {all_us:.1f} us over {sum(cnt.values())} launches")
