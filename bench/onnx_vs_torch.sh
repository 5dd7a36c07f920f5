#!/bin/bash
# onnx_vs_torch.sh — serving a PyTorch-trained model with kiln: PyTorch trains the reference
# MLP (784-64-64-10, one pass over 10,000 Fashion-MNIST images; MODEL=cnn: the CNN of
# models/cnn.json on 2,000) and exports it with its softmax to ONNX
# (bench/torch_predict_latency.py with EXPORT); kiln imports the file (kn_model_import_onnx)
# and both measure single-sample predict latency as INTERFACE.md says (one call per distinct
# test image, u8 scaling and softmax inside, median and p99), kiln through
# bench/predict_latency, PyTorch eagerly, each at THREADS. The accuracy on the measured
# images is printed by both: the same model must make the same calls.
# usage: bench/onnx_vs_torch.sh [N=1000] (from the repository root, after make; BUILD=dir)
set -euo pipefail
N=${1:-1000}
BUILD=${BUILD:-build}
THREADS=${THREADS:-1}
MODEL=${MODEL:-mlp}
PY=/usr/bin/python3
[ -x "$BUILD/bench/predict_latency" ] || { echo "build kiln first (make)"; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "PyTorch missing: apt-get install -y python3-torch"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "# $(date -u '+%F %H:%M') UTC, $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), load $(cut -d' ' -f1-3 /proc/loadavg), model $MODEL, threads $THREADS"
torch_out=$(EXPORT="$dir/model.onnx" MODEL=$MODEL THREADS=$THREADS $PY bench/torch_predict_latency.py "$N" | grep RESULT)
echo "$torch_out"
"$BUILD/kiln" import "$dir/model.onnx" "$dir/model.kiln" --quiet
kiln_out=$("$BUILD/bench/predict_latency" "$N" "$THREADS" "$dir/model.kiln" | grep RESULT)
echo "$kiln_out"
t=$(echo "$torch_out" | sed -n 's/.*predict1.*median_us=\([0-9.]*\).*/\1/p')
k=$(echo "$kiln_out" | sed -n 's/.*median_us=\([0-9.]*\).*/\1/p')
ta=$(echo "$torch_out" | sed -n 's/.*export.*accuracy_on_them=\([0-9.]*\).*/\1/p')
ka=$(echo "$kiln_out" | sed -n 's/.*accuracy_on_them=\([0-9.]*\).*/\1/p')
echo "| $MODEL from ONNX, single-sample predict | kiln | PyTorch | PyTorch / kiln |"
echo "| --- | --- | --- | --- |"
echo "| median µs, $N images, $THREADS thread(s) | $k | $t | $(awk "BEGIN{printf \"%.2fx\", $t / $k}") |"
echo "| accuracy on them | $ka | $ta | |"
