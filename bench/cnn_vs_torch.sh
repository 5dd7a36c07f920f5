#!/bin/bash
# cnn_vs_torch.sh — models/cnn.json (conv32 3x3 relu, conv64 3x3 relu, max pool 2, dropout
# .25, dense 128 relu, dropout .5, dense 10; Adam 1e-3, batch 128) trained by kiln and by
# PyTorch CPU (../shared/bench/torch_cnn.py, the same model) in the same run on the same data:
# seconds per 60,000-image epoch and single-image predict latency, each side at 1 and 2
# threads and credited with its better one, and the ratios.
# Both train EPOCHS epochs of 60,000 images and are credited with their median epoch
# (INTERFACE.md, Measuring). NTRAIN < 60000 is a quick look only: PyTorch then trains that
# many images an epoch and is scaled to 60,000, which INTERFACE.md's figures may not use. Predict latency: bench/predict_latency.c and
# bench/torch_predict_latency.py (MODEL=cnn), as INTERFACE.md says.
# usage: bench/cnn_vs_torch.sh [EPOCHS=3] [NTRAIN=60000]   (from the repository root, after make)
set -euo pipefail
EPOCHS=${1:-3} # INTERFACE.md, Measuring: the median epoch of a run of at least 3
NTRAIN=${2:-60000}
BUILD=${BUILD:-build}
KILN=$BUILD/kiln
PY=/usr/bin/python3
PEER=${PEER:-../shared/bench/torch_cnn.py}
[ -x "$KILN" ] || { echo "build kiln first (make)"; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "PyTorch missing: apt-get install -y python3-torch"; exit 1; }
[ -f "$PEER" ] || PEER=/work/shared/bench/torch_cnn.py
field() { $PY -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }
median_us() { sed -n 's/.*median_us=\([0-9.]*\).*/\1/p'; }
better() { awk "BEGIN{exit !($1 < $2)}"; }

echo "# $(date -u '+%F %H:%M') UTC, $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), load $(cut -d' ' -f1-3 /proc/loadavg)"
k_spe=""; k_thr=""; t_spe=""; t_thr=""
for thr in 2 1; do
    s=$($KILN train models/cnn.json --data fashion-mnist --epochs "$EPOCHS" --threads "$thr" --json --quiet | field seconds_per_epoch)
    echo "kiln    threads=$thr: $s s/epoch"
    if [ -z "$k_spe" ] || better "$s" "$k_spe"; then k_spe=$s; k_thr=$thr; fi
    out=$(NTRAIN=$NTRAIN THREADS=$thr $PY "$PEER" "$EPOCHS" 128 | grep RESULT | sed 's/^RESULT //')
    s=$(echo "$out" | field s_per_epoch)
    s=$(awk "BEGIN{printf \"%.2f\", $s * 60000 / $NTRAIN}")
    if [ "$NTRAIN" -lt 60000 ]; then echo "PyTorch threads=$thr: $s s/epoch (scaled from $NTRAIN images: a quick look, not a figure)"
    else echo "PyTorch threads=$thr: $s s/epoch (median of $EPOCHS)"; fi
    if [ -z "$t_spe" ] || better "$s" "$t_spe"; then t_spe=$s; t_thr=$thr; fi
done
k_lat=""; t_lat=""; kl_thr=""; tl_thr=""
for thr in 1 2; do
    l=$($BUILD/bench/predict_latency 1000 "$thr" models/cnn.json | median_us)
    echo "kiln    predict threads=$thr: $l us"
    if [ -z "$k_lat" ] || better "$l" "$k_lat"; then k_lat=$l; kl_thr=$thr; fi
    l=$(THREADS=$thr MODEL=cnn $PY bench/torch_predict_latency.py 1000 | median_us)
    echo "PyTorch predict threads=$thr: $l us"
    if [ -z "$t_lat" ] || better "$l" "$t_lat"; then t_lat=$l; tl_thr=$thr; fi
done

echo
echo "| what | kiln (threads) | PyTorch (threads) | ratio |"
echo "| --- | --- | --- | --- |"
echo "| s/epoch, 60,000 images | $k_spe ($k_thr) | $t_spe ($t_thr) | $(awk "BEGIN{printf \"%.2fx\", $t_spe/$k_spe}") |"
echo "| single-image predict, median µs | $k_lat ($kl_thr) | $t_lat ($tl_thr) | $(awk "BEGIN{printf \"%.2fx\", $t_lat/$k_lat}") |"
