#!/bin/bash
# mlp_vs_torch.sh — the reference recipe (784-64-64-10, Adam 1e-3, batch 32) trained by kiln
# and by PyTorch CPU (Debian's python3-torch) in the same run on the same data: s/epoch
# (median epoch), test accuracy (kiln: mean of SEEDS seeds), single-sample predict latency,
# and the ratios. PyTorch runs at 1 and 2 threads and is credited with its better one, for
# training and for the predict latency alike (kiln's latency is at 1 thread).
# usage: bench/mlp_vs_torch.sh [EPOCHS=10] [SEEDS=3]   (INTERFACE.md: accuracy is the mean of 3 seeds)   (from the repository root, after make)
set -euo pipefail
EPOCHS=${1:-10}
SEEDS=${2:-3}
BUILD=${BUILD:-build}
KILN=$BUILD/kiln
PY=/usr/bin/python3
PEER=${PEER:-../shared/bench/torch_mlp.py}
[ -x "$KILN" ] || { echo "build kiln first (make)"; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "PyTorch missing: apt-get install -y python3-torch"; exit 1; }
[ -f "$PEER" ] || PEER=/work/shared/bench/torch_mlp.py

echo "# $(date -u +%F) $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), epochs=$EPOCHS"
spe=(); acc=()
for seed in $(seq 1 "$SEEDS"); do
    line=$($KILN train models/mlp.json --data fashion-mnist --epochs "$EPOCHS" --seed "$seed" --threads 2 --json --quiet | tail -n 1)
    s=$(echo "$line" | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["seconds_per_epoch"], d["test_accuracy"])')
    spe+=("${s% *}"); acc+=("${s#* }")
    echo "kiln seed $seed: ${s% *} s/epoch, test accuracy ${s#* }"
done
kiln_spe=$(printf '%s\n' "${spe[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
kiln_acc=$(printf '%s\n' "${acc[@]}" | awk '{s+=$1} END {printf "%.4f", s/NR}')
kiln_lat=$($BUILD/bench/predict_latency 2000 1 | sed -n 's/.*median_us=\([0-9.]*\).*/\1/p')

best_spe=""; best_thr=""; torch_acc=""
for thr in 1 2; do
    out=$(THREADS=$thr $PY "$PEER" "$EPOCHS" 32 | grep RESULT)
    s=$(echo "$out" | sed -n 's/.*s_per_epoch=\([0-9.]*\).*/\1/p')
    a=$(echo "$out" | sed -n 's/.*test_acc=\([0-9.]*\).*/\1/p')
    echo "torch threads=$thr: $s s/epoch, test accuracy $a"
    if [ -z "$best_spe" ] || awk "BEGIN{exit !($s < $best_spe)}"; then best_spe=$s; best_thr=$thr; torch_acc=$a; fi
done
torch_lat=""; torch_lat_thr=""
for thr in 1 2; do
    l=$(THREADS=$thr $PY bench/torch_predict_latency.py 2000 | sed -n 's/.*median_us=\([0-9.]*\).*/\1/p')
    echo "torch predict threads=$thr: median $l µs"
    if [ -z "$torch_lat" ] || awk "BEGIN{exit !($l < $torch_lat)}"; then torch_lat=$l; torch_lat_thr=$thr; fi
done

echo
echo "| what | kiln | PyTorch (best: $best_thr thread(s)) | ratio |"
echo "| --- | --- | --- | --- |"
echo "| s/epoch (median) | $kiln_spe | $best_spe | $(awk "BEGIN{printf \"%.1fx\", $best_spe/$kiln_spe}") |"
echo "| test accuracy | $kiln_acc (mean of $SEEDS seeds) | $torch_acc | |"
echo "| predict 1 sample, median µs (kiln 1 thread; PyTorch $torch_lat_thr) | $kiln_lat | $torch_lat | $(awk "BEGIN{printf \"%.1fx\", $torch_lat/$kiln_lat}") |"
