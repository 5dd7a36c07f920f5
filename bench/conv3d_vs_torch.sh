#!/bin/bash
# conv3d_vs_torch.sh — a small 3-D CNN (bench/cnn3d_step.c: conv3d 16, max_pool3d, conv3d 32,
# max_pool3d, global average, dense 10 over (16, 32, 32, 1) volumes, batch 8) in kiln against
# PyTorch CPU (bench/torch_cnn3d.py, the same network and data, channels_last_3d and NCDHW) in
# the same run: milliseconds a training step and a forward pass, medians of BLOCKS blocks, at
# 1 and 2 threads, and the ratios (PyTorch / kiln: above 1, kiln is faster).
# usage: bench/conv3d_vs_torch.sh [BLOCKS=7]   (from the repository root, after make)
set -euo pipefail
BLOCKS=${1:-7}
BUILD=${BUILD:-build}
PY=/usr/bin/python3
[ -x "$BUILD/bench/cnn3d_step" ] || { echo "build kiln first (make)"; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "PyTorch missing: apt-get install -y python3-torch"; exit 1; }
echo "# $(date -u '+%F %H:%M') UTC, $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| threads | kiln train ms | PyTorch train ms (channels_last_3d / NCDHW) | ratio | kiln forward ms | PyTorch forward ms | ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for thr in 1 2; do
    k=$($BUILD/bench/cnn3d_step "$thr" "$BLOCKS" | grep RESULT | cut -d' ' -f2-)
    t=$(THREADS=$thr LAYOUT=channels_last $PY bench/torch_cnn3d.py "$BLOCKS" | grep RESULT | cut -d' ' -f2-)
    u=$(THREADS=$thr LAYOUT=ncdhw $PY bench/torch_cnn3d.py "$BLOCKS" | grep RESULT | cut -d' ' -f2-)
    $PY - "$k" "$t" "$u" <<'PYEOF'
import json, sys
k, t, u = (json.loads(a) for a in sys.argv[1:4])
bt, bf = min(t["train_ms"], u["train_ms"]), min(t["forward_ms"], u["forward_ms"])
print(f"| {k['threads']} | {k['train_ms']} | {t['train_ms']} / {u['train_ms']} | {bt / k['train_ms']:.2f}x "
      f"| {k['forward_ms']} | {t['forward_ms']} / {u['forward_ms']} | {bf / k['forward_ms']:.2f}x |")
PYEOF
done
