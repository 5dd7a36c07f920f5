#!/bin/bash
# conv_transpose_vs_torch.sh — models/conv_autoencoder.json (conv2d 32, 64 stride 2 ->
# conv2d_transpose 32, 1 stride 2; 28x28 -> 7x7 -> 28x28) trained to reproduce Fashion-MNIST's
# training images by kiln (bench/conv_autoencoder.c) and by PyTorch CPU
# (bench/torch_conv_autoencoder.py, the same model with ConvTranspose2d) in the same run on the
# same images: milliseconds a training step (batch 128; the median epoch of EPOCHS over NTRAIN
# images, divided by its steps), each side at 1 and 2 threads and credited with its better
# one, the last epoch's loss, and the ratio. NTRAIN defaults to 6400 (50 steps an epoch) to
# keep a run to a few minutes on a shared machine: it times steps, not INTERFACE.md's epochs
# (NTRAIN=60000 gives those). The losses differ by the initializers (kiln: Keras's
# glorot_uniform kernels and zero biases; PyTorch: its kaiming_uniform(a=sqrt(5)) defaults).
# usage: bench/conv_transpose_vs_torch.sh [EPOCHS=3] [NTRAIN=6400]   (from the repository root, after make)
set -euo pipefail
EPOCHS=${1:-3}
NTRAIN=${2:-6400}
STEPS=$(( (NTRAIN + 127) / 128 ))
BUILD=${BUILD:-build}
PY=/usr/bin/python3
[ -x "$BUILD/bench/conv_autoencoder" ] || { echo "build kiln first (make)"; exit 1; }
$PY -c 'import torch' 2>/dev/null || { echo "PyTorch missing: apt-get install -y python3-torch"; exit 1; }
field() { $PY -c "import json,sys; print(json.loads(sys.stdin.read().split('RESULT ', 1)[1])['$1'])"; }
better() { awk "BEGIN{exit !($1 < $2)}"; }

echo "# $(date -u '+%F %H:%M') UTC, $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), load $(cut -d' ' -f1-3 /proc/loadavg)"
k_spe=""; k_thr=""; k_loss=""; t_spe=""; t_thr=""; t_loss=""
for thr in 2 1; do
    out=$($BUILD/bench/conv_autoencoder "$EPOCHS" "$NTRAIN" "$thr" | grep RESULT)
    s=$(echo "$out" | field s_per_epoch); l=$(echo "$out" | field final_loss)
    s=$(awk "BEGIN{printf \"%.2f\", $s * 1000 / $STEPS}")
    echo "kiln    threads=$thr: $s ms/step, loss $l"
    if [ -z "$k_spe" ] || better "$s" "$k_spe"; then k_spe=$s; k_thr=$thr; k_loss=$l; fi
    out=$(NTRAIN=$NTRAIN THREADS=$thr $PY bench/torch_conv_autoencoder.py "$EPOCHS" | grep RESULT)
    s=$(echo "$out" | field s_per_epoch); l=$(echo "$out" | field final_loss)
    s=$(awk "BEGIN{printf \"%.2f\", $s * 1000 / $STEPS}")
    echo "PyTorch threads=$thr: $s ms/step, loss $l"
    if [ -z "$t_spe" ] || better "$s" "$t_spe"; then t_spe=$s; t_thr=$thr; t_loss=$l; fi
done

echo
echo "| what (conv autoencoder, Fashion-MNIST images) | kiln (threads) | PyTorch (threads) | ratio |"
echo "| --- | --- | --- | --- |"
echo "| ms a training step, batch 128 (median of $EPOCHS epochs of $NTRAIN images) | $k_spe ($k_thr) | $t_spe ($t_thr) | $(awk "BEGIN{printf \"%.1fx\", $t_spe/$k_spe}") |"
echo "| mean squared error, last epoch | $k_loss | $t_loss | |"
