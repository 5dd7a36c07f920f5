#!/bin/bash
# group_norm_vs_torch.sh — group normalization, kiln (bench/group_norm_ops.c) against PyTorch
# CPU's F.group_norm on channels-last tensors (bench/torch_group_norm.py) in the same run on
# the same shapes: microseconds a forward pass and a training pass (forward and backward to
# x, gamma and beta), the median of alternating blocks, each side at 1 and 2 threads, and the
# ratios (PyTorch / kiln: above 1, kiln is faster).
# usage: bench/group_norm_vs_torch.sh [BLOCKS=11]   (from the repository root, after make)
set -euo pipefail
BLOCKS=${1:-11}
BUILD=${BUILD:-build}
PY=/usr/bin/python3
[ -x "$BUILD/bench/group_norm_ops" ] || { echo "build kiln first (make)"; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "PyTorch missing: apt-get install -y python3-torch"; exit 1; }
echo "# $(date -u '+%F %H:%M') UTC, $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), load $(cut -d' ' -f1-3 /proc/loadavg)"
kfile=$(mktemp); tfile=$(mktemp)
trap 'rm -f "$kfile" "$tfile"' EXIT
for thr in 1 2; do
    $BUILD/bench/group_norm_ops "$thr" "$BLOCKS" | grep RESULT >>"$kfile"
    THREADS=$thr $PY bench/torch_group_norm.py "$BLOCKS" | grep RESULT >>"$tfile"
done
$PY - "$kfile" "$tfile" <<'PYEOF'
import json, sys
def load(path):
    return {(r["shape"], r["threads"]): r for r in (json.loads(l.split("RESULT ", 1)[1]) for l in open(path))}
k, t = load(sys.argv[1]), load(sys.argv[2])
print("| shape N,H,W,C,groups | threads | kiln forward µs | PyTorch forward µs | ratio | kiln train µs | PyTorch train µs | ratio |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for key in sorted(k, key=lambda s: (s[1], list(k).index(s))):
    a, b = k[key], t[key]
    print(f"| {key[0]} | {key[1]} | {a['forward_us']} | {b['forward_us']} | {b['forward_us'] / a['forward_us']:.2f}x "
          f"| {a['train_us']} | {b['train_us']} | {b['train_us'] / a['train_us']:.2f}x |")
PYEOF
