#!/bin/bash
# rnn_vs_torch.sh — models/lstm_fashion.json (Fashion-MNIST read a row at a time: 28 steps
# of 28 pixels, LSTM 64, dense 10; Adam 1e-3, batch 32) trained by kiln and by PyTorch CPU
# (bench/torch_rnn.py: the same model with nn.LSTM) in the same run on the same data:
# seconds per 60,000-image epoch (median of EPOCHS), test accuracy, and single-image
# predict latency (host in, host out, distinct images; kiln: bench/predict_latency on the
# model file), each side at every thread count of THREADS_LIST and credited with its
# better one, and the ratios. CELL=gru runs the GRU (kiln: the same file with gru);
# CELL=transformer models/transformer_fashion.json (an attention encoder block) against the
# same block in PyTorch (nn.MultiheadAttention).
# usage: [THREADS_LIST="1 2"] [CELL=lstm] bench/rnn_vs_torch.sh [EPOCHS=3]   (from the repository root, after make)
set -euo pipefail
EPOCHS=${1:-3}
CELL=${CELL:-lstm}
BUILD=${BUILD:-build}
KILN=$BUILD/kiln
PY=/usr/bin/python3
[ -x "$KILN" ] || { echo "build kiln first (make)"; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "PyTorch missing: apt-get install -y python3-torch"; exit 1; }
spec=models/lstm_fashion.json
if [ "$CELL" = transformer ]; then
    spec=models/transformer_fashion.json
elif [ "$CELL" != lstm ]; then
    spec=$(mktemp /tmp/kiln_rnn_XXXXXX.json)
    sed "s/\"lstm\"/\"$CELL\"/" models/lstm_fashion.json > "$spec"
fi
field() { $PY -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }
better() { awk "BEGIN{exit !($1 < $2)}"; }

echo "# $(date -u '+%F %H:%M') UTC, $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), load $(cut -d' ' -f1-3 /proc/loadavg), $CELL"
k_spe=""; k_thr=""; k_acc=""; t_spe=""; t_thr=""; t_acc=""; t_lat=""; tl_thr=""
for thr in ${THREADS_LIST:-1 2}; do
    line=$($KILN train "$spec" --data fashion-mnist --epochs "$EPOCHS" --threads "$thr" --json --quiet | tail -n 1)
    s=$(echo "$line" | field seconds_per_epoch); a=$(echo "$line" | field test_accuracy)
    echo "kiln    threads=$thr: $s s/epoch, test accuracy $a"
    if [ -z "$k_spe" ] || better "$s" "$k_spe"; then k_spe=$s; k_thr=$thr; k_acc=$a; fi
    out=$(CELL=$CELL THREADS=$thr $PY bench/torch_rnn.py "$EPOCHS" | grep RESULT | sed 's/^RESULT //')
    s=$(echo "$out" | field s_per_epoch); a=$(echo "$out" | field test_acc); l=$(echo "$out" | field predict_us)
    echo "PyTorch threads=$thr: $s s/epoch, test accuracy $a, predict $l us"
    if [ -z "$t_spe" ] || better "$s" "$t_spe"; then t_spe=$s; t_thr=$thr; t_acc=$a; fi
    if [ -z "$t_lat" ] || better "$l" "$t_lat"; then t_lat=$l; tl_thr=$thr; fi
done
k_lat=""; kl_thr=""
for thr in ${THREADS_LIST:-1 2}; do
    l=$($BUILD/bench/predict_latency 1000 "$thr" "$spec" | sed -n 's/.*median_us=\([0-9.]*\).*/\1/p')
    echo "kiln    predict threads=$thr: $l us"
    if [ -z "$k_lat" ] || better "$l" "$k_lat"; then k_lat=$l; kl_thr=$thr; fi
done
[ "$CELL" != lstm ] && [ "$CELL" != transformer ] && rm -f "$spec"

echo
echo "| what ($CELL, Fashion-MNIST rows) | kiln (threads) | PyTorch (threads) | ratio |"
echo "| --- | --- | --- | --- |"
echo "| s/epoch, 60,000 images, batch 32 | $k_spe ($k_thr) | $t_spe ($t_thr) | $(awk "BEGIN{printf \"%.1fx\", $t_spe/$k_spe}") |"
echo "| test accuracy after $EPOCHS epochs | $k_acc | $t_acc | |"
echo "| single-image predict, median µs | $k_lat ($kl_thr) | $t_lat ($tl_thr) | $(awk "BEGIN{printf \"%.1fx\", $t_lat/$k_lat}") |"
