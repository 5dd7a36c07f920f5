#!/bin/bash
# torchvision_onnx.sh — serving torchvision's image models (and PyTorch text models: text_lstm,
# text_gru, text_bigru, textcnn, text_transformer over SIZE token ids) with kiln: each model exported by
# PyTorch to ONNX (bench/torchvision_onnx.py, random weights), imported by kiln
# (bench/onnx_latency), and both timing single-image predicts on the same N images (host in,
# host out; median and p99) at THREADS, with kiln's largest difference from PyTorch's outputs.
# Needs python3-torchvision (apt-get install -y python3-torchvision).
# usage: bench/torchvision_onnx.sh [SIZE=224] [N=50] [MODELS="resnet18 mobilenet_v2"]
#        bench/torchvision_onnx.sh 100 1000 "text_lstm text_gru text_bigru textcnn text_transformer"
set -euo pipefail
SIZE=${1:-224}
N=${2:-50}
MODELS=${3:-resnet18 mobilenet_v2}
BUILD=${BUILD:-build}
THREADS=${THREADS:-1}
PY=/usr/bin/python3
[ -x "$BUILD/bench/onnx_latency" ] || { echo "build kiln first (make)"; exit 1; }
for m in $MODELS; do # (the text models need PyTorch only)
    case $m in text_*|textcnn) ;; *) $PY -c 'import torchvision' 2>/dev/null || { echo "torchvision missing: apt-get install -y python3-torchvision"; exit 1; } ;; esac
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "# $(date -u '+%F %H:%M') UTC, $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), load $(cut -d' ' -f1-3 /proc/loadavg), ${SIZE}x${SIZE}, $N images, threads $THREADS"
echo "| model | kiln median µs (p99) | PyTorch median µs (p99) | PyTorch / kiln | max abs diff |"
echo "| --- | --- | --- | --- | --- |"
for m in $MODELS; do
    t=$(THREADS=$THREADS $PY bench/torchvision_onnx.py "$m" "$SIZE" "$N" "$dir" 2>/dev/null | grep RESULT)
    outs=$(echo "$t" | sed -n 's/.*outputs=\([0-9]*\).*/\1/p')
    shape=$(echo "$t" | sed -n 's/.*shape=\([0-9,]*\).*/\1/p' | tr ',' ' ')
    # shellcheck disable=SC2086 # (C H W, split on purpose)
    k=$("$BUILD/bench/onnx_latency" "$dir/$m.onnx" "$dir/${m}_x.raw" "$dir/${m}_y.raw" "$N" $shape "$outs" "$THREADS" | grep RESULT)
    km=$(echo "$k" | sed -n 's/.*median_us=\([0-9.]*\).*/\1/p'); kp=$(echo "$k" | sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p')
    tm=$(echo "$t" | sed -n 's/.*median_us=\([0-9.]*\).*/\1/p'); tp=$(echo "$t" | sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p')
    d=$(echo "$k" | sed -n 's/.*max_abs_diff=\([^ ]*\).*/\1/p')
    echo "| $m | $km ($kp) | $tm ($tp) | $(awk "BEGIN{printf \"%.2fx\", $tm / $km}") | $d |"
done
