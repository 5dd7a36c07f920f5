#!/bin/bash
# conv_direct.sh — one convolution layer's forward pass (conv2d + bias + relu, 'same'; the
# first layers of networks, of few input channels, and layers past them whose kernel is
# small) three ways in the same run, and kiln's kernel gradient of it two ways: kiln's direct
# convolution (src/backend/cpu/conv_direct.c), kiln's GEMM path (KILN_CONV_DIRECT=0,
# conv_gemm.c) and PyTorch CPU (bench/torch_conv_layer.py, its faster of NCHW and
# channels_last). kiln's two runs alternate ROUNDS times (this VM drifts); each figure is the
# median over rounds of bench/conv_layer.c's median-block microseconds a call.
# usage: bench/conv_direct.sh [THREADS=1] [ROUNDS=3] [N,H,W,C,F,K,STRIDE ...]   (after make)
set -euo pipefail
THREADS=${1:-1}
ROUNDS=${2:-3}
shift $(($# < 2 ? $# : 2))
BUILD=${BUILD:-build}
PY=/usr/bin/python3
[ -x "$BUILD/bench/conv_layer" ] || { echo "build first (make)"; exit 1; }
SHAPES=("$@")
[ ${#SHAPES[@]} -gt 0 ] || SHAPES=(128,28,28,1,32,3,1 64,32,32,1,32,3,1 64,32,32,3,32,3,1 64,32,32,3,32,5,1
    64,32,32,3,64,3,1 32,64,64,3,64,7,2 1,28,28,1,32,3,1 64,32,32,16,32,3,1 64,32,32,16,64,3,1
    32,32,32,32,32,3,1 64,16,16,64,16,3,1 64,16,16,48,32,3,1 128,24,24,32,64,3,1 64,16,16,64,64,3,1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "# $(date -u '+%F %H:%M') UTC, $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), load $(cut -d' ' -f1-3 /proc/loadavg), threads $THREADS"
for r in $(seq "$ROUNDS"); do
    KILN_CONV_DIRECT=1 "$BUILD/bench/conv_layer" "$THREADS" 15 "${SHAPES[@]}" >>"$out/direct"
    KILN_CONV_DIRECT=0 "$BUILD/bench/conv_layer" "$THREADS" 15 "${SHAPES[@]}" >>"$out/gemm"
done
if $PY -c 'import torch' 2>/dev/null; then
    THREADS=$THREADS $PY bench/torch_conv_layer.py "${SHAPES[@]}" >"$out/torch"
else
    echo "# PyTorch missing (apt-get install -y python3-torch): its column left empty"; : >"$out/torch"
fi
$PY - "$out" "${SHAPES[@]}" <<'PYEOF'
import json, statistics, sys
out, shapes = sys.argv[1], sys.argv[2:]
def load(name, key="forward_us"):
    got = {}
    for line in open(f"{out}/{name}"):
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            if key in r:
                got.setdefault(r["shape"], []).append(r[key])
    return {k: statistics.median(v) for k, v in got.items()}
d, g, t = load("direct"), load("gemm"), load("torch")
dk, gk = load("direct", "grad_kernel_us"), load("gemm", "grad_kernel_us")
print("| N,H,W,C,F,K,stride | kiln direct us | kiln GEMM us | GEMM/direct | PyTorch us | PyTorch/kiln "
      "| kernel grad direct us | kernel grad GEMM us | GEMM/direct |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for s in shapes:
    pt = f"{t[s]:.1f} | {t[s] / d[s]:.2f}x" if s in t else " | "
    print(f"| {s} | {d[s]:.1f} | {g[s]:.1f} | {g[s] / d[s]:.2f}x | {pt} | {dk[s]:.1f} | {gk[s]:.1f} | {gk[s] / dk[s]:.2f}x |")
PYEOF
