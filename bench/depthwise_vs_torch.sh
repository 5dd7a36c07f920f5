#!/bin/bash
# depthwise_vs_torch.sh — kiln's depthwise convolutions against PyTorch's grouped ones (Conv2d
# with groups = C) in the same run, two ways:
#  1. models/separable_cnn.json, a MobileNet-style CNN (conv2d 16, four separable_conv2d
#     blocks 32, 64/2, 64, 128/2, global average pool, dense 10), trained on Fashion-MNIST by
#     kiln (bench/separable_cnn.c) and PyTorch CPU (bench/torch_separable_cnn.py, the same
#     model and initializers, channels_last): seconds a NTRAIN-image epoch (the median of
#     EPOCHS; NTRAIN=60000 gives INTERFACE.md's epochs), each side at 2 threads (seed 1) and
#     1 thread (seed 2) and credited with its faster, then once more at that count (seed 3);
#     test accuracy, the mean of the three seeds; single-image predict latency (kiln:
#     bench/predict_latency.c through a saved and loaded model; PyTorch: the trained model,
#     both over 1,000 distinct test images, median µs), best of 1 and 2 threads.
#  2. the three depthwise kernels alone (forward, input gradient, kernel gradient; 3x3,
#     'same') on a few shapes (bench/depthwise_ops.c, bench/torch_depthwise_ops.py, the
#     faster of NCHW and channels_last for PyTorch), microseconds a call, each side at its
#     faster of 1 and 2 threads per op.
# PyTorch's depthwise convolutions are oneDNN's, which use AVX-512 where the CPU has it (kiln:
# AVX2 + FMA); ONEDNN_MAX_CPU_ISA=AVX2 in the environment holds oneDNN to AVX2 (the header
# line says so).
# usage: bench/depthwise_vs_torch.sh [EPOCHS=3] [NTRAIN=60000] [PARTS=train,ops]
#        (from the repository root, after make; BUILD=dir for another build)
set -euo pipefail
EPOCHS=${1:-3}
NTRAIN=${2:-60000}
PARTS=${3:-train,ops}
BUILD=${BUILD:-build}
PY=/usr/bin/python3
[ -x "$BUILD/bench/separable_cnn" ] && [ -x "$BUILD/bench/depthwise_ops" ] || { echo "build kiln first (make)"; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "PyTorch missing: apt-get install -y python3-torch"; exit 1; }
field() { $PY -c "import json,sys; print(json.loads(sys.stdin.read().split('RESULT ', 1)[1])['$1'])"; }
better() { awk "BEGIN{exit !($1 < $2)}"; }
ratio() { awk "BEGIN{printf \"%.2fx\", $1 / $2}"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "# $(date -u '+%F %H:%M') UTC, $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), load $(load)${ONEDNN_MAX_CPU_ISA:+, ONEDNN_MAX_CPU_ISA=$ONEDNN_MAX_CPU_ISA}"
if [[ $PARTS == *train* ]]; then
    declare -A spe acc lat
    run_kiln() { # threads seed
        local out; out=$($BUILD/bench/separable_cnn "$EPOCHS" "$NTRAIN" "$1" "$2" | grep RESULT)
        spe[k$1]=${spe[k$1]:-$(echo "$out" | field s_per_epoch)}
        acc[k$2]=$(echo "$out" | field test_accuracy)
        echo "kiln    threads=$1 seed=$2: ${spe[k$1]} s/epoch, test accuracy ${acc[k$2]} (load $(load))"
    }
    run_torch() {
        local out; out=$(NTRAIN=$NTRAIN THREADS=$1 SEED=$2 $PY bench/torch_separable_cnn.py "$EPOCHS" | grep RESULT)
        spe[t$1]=${spe[t$1]:-$(echo "$out" | field s_per_epoch)}
        acc[t$2]=$(echo "$out" | field test_accuracy)
        lat[t$1]=${lat[t$1]:-$(echo "$out" | field predict_median_us)}
        echo "PyTorch threads=$1 seed=$2: ${spe[t$1]} s/epoch, test accuracy ${acc[t$2]}, predict ${lat[t$1]} µs (load $(load))"
    }
    run_kiln 2 1; run_torch 2 1; run_kiln 1 2; run_torch 1 2
    kt=2; better "${spe[k1]}" "${spe[k2]}" && kt=1
    tt=2; better "${spe[t1]}" "${spe[t2]}" && tt=1
    run_kiln $kt 3; run_torch $tt 3
    for thr in 1 2; do
        lat[k$thr]=$($BUILD/bench/predict_latency 1000 "$thr" models/separable_cnn.json | sed -n 's/.*median_us=\([0-9.]*\).*/\1/p')
        echo "kiln    predict threads=$thr: ${lat[k$thr]} µs"
    done
    kl=1; better "${lat[k2]}" "${lat[k1]}" && kl=2
    tl=1; better "${lat[t2]}" "${lat[t1]}" && tl=2
    mean() { awk "BEGIN{printf \"%.4f\", ($1 + $2 + $3) / 3}"; }
    echo
    echo "| models/separable_cnn.json, Fashion-MNIST | kiln (threads) | PyTorch (threads) | PyTorch / kiln |"
    echo "| --- | --- | --- | --- |"
    echo "| s/epoch, $NTRAIN images (median of $EPOCHS) | ${spe[k$kt]} ($kt; ${spe[k$((3 - kt))]} at $((3 - kt))) | ${spe[t$tt]} ($tt; ${spe[t$((3 - tt))]} at $((3 - tt))) | $(ratio "${spe[t$tt]}" "${spe[k$kt]}") |"
    echo "| test accuracy after $EPOCHS epochs, mean of seeds 1-3 | $(mean "${acc[k1]}" "${acc[k2]}" "${acc[k3]}") (${acc[k1]}, ${acc[k2]}, ${acc[k3]}) | $(mean "${acc[t1]}" "${acc[t2]}" "${acc[t3]}") (${acc[t1]}, ${acc[t2]}, ${acc[t3]}) | |"
    echo "| single-image predict, median µs | ${lat[k$kl]} ($kl) | ${lat[t$tl]} ($tl) | $(ratio "${lat[t$tl]}" "${lat[k$kl]}") |"
    echo
fi
if [[ $PARTS == *ops* ]]; then
    # each side's RESULT lines at 1 and 2 threads, then one table row a shape and op
    kfile=$(mktemp); tfile=$(mktemp); trap 'rm -f "$kfile" "$tfile"' EXIT
    for thr in 1 2; do
        echo "depthwise kernels, threads=$thr (load $(load))"
        $BUILD/bench/depthwise_ops "$thr" | grep RESULT >>"$kfile"
        THREADS=$thr $PY bench/torch_depthwise_ops.py | grep RESULT >>"$tfile"
    done
    $PY - "$kfile" "$tfile" <<'EOF'
import json, sys
def read(path):
    rows = [json.loads(l.split("RESULT ", 1)[1]) for l in open(path)]
    return {(r["shape"], r["threads"]): r for r in rows}
k, t = read(sys.argv[1]), read(sys.argv[2])
print("| shape (N, H, W, C), stride | op | kiln µs (threads) | PyTorch µs (threads, layout) | PyTorch / kiln |")
print("| --- | --- | --- | --- | --- |")
for shape in dict.fromkeys(s for s, _ in k):
    n, h, w, c, s = shape.split(",")
    for op in ("forward", "grad_input", "grad_kernel"):
        kt = min((1, 2), key=lambda thr: k[shape, thr][op + "_us"])
        tt = min((1, 2), key=lambda thr: t[shape, thr][op + "_us"])
        kv, tv = k[shape, kt][op + "_us"], t[shape, tt][op + "_us"]
        print(f"| ({n}, {h}, {w}, {c}), {s} | {op} | {kv:.0f} ({kt}) | {tv:.0f} ({tt}, {t[shape, tt][op + '_layout']}) "
              f"| {tv / kv:.2f}x |")
EOF
fi
