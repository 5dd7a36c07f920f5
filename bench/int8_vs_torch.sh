#!/bin/bash
# int8_vs_torch.sh — int8 inference of the reference MLP, kiln against PyTorch, same run, same
# data: kiln's model served in f32 and with --int8 (kn_model_set_quantization:
# bench/int8_predict.c) and PyTorch's served in f32 and as quantize_dynamic's int8 copy
# (bench/torch_int8.py) on each quantized engine this torch has (onednn, qnnpack, ...). Each
# side trains its own model for EPOCHS epochs on the 60,000 images; accuracy on the 10,000
# test images, single-sample predict latency (median of N distinct samples, INTERFACE.md's
# way) and the test set predicted in batches of BATCH (1000; the CNN 128: PyTorch takes
# ~55 s a pass at 1000 images there; median of 3 passes).
# MODEL=cnn: models/cnn.json and its PyTorch twin (whose quantize_dynamic leaves the
# convolutions f32: PyTorch has no dynamic int8 convolution); N_FIT=K trains on K images.
# usage: [MODEL=mlp|cnn] [N_FIT=60000] bench/int8_vs_torch.sh [THREADS=1] [EPOCHS=2] [N=1000]   (after make)
set -euo pipefail
THREADS=${1:-1}
EPOCHS=${2:-2}
N=${3:-1000}
BUILD=${BUILD:-build}
MODEL=${MODEL:-mlp}
BATCH=${BATCH:-$([ "$MODEL" = cnn ] && echo 128 || echo 1000)}
PY=/usr/bin/python3
[ -x "$BUILD/bench/int8_predict" ] || { echo "build first (make)"; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# $(date -u '+%F %H:%M') UTC, $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), load $(cut -d' ' -f1-3 /proc/loadavg), threads $THREADS, model $MODEL, epochs $EPOCHS, ${N_FIT:-60000} training images, $N samples"
"$BUILD/bench/int8_predict" "$EPOCHS" "$THREADS" "$N" "$BATCH" "models/$MODEL.json" >>"$out"
if $PY -c 'import torch' 2>/dev/null; then
    for engine in $($PY -c 'import torch; print(" ".join(e for e in torch.backends.quantized.supported_engines if e != "none"))'); do
        MODEL=$MODEL THREADS=$THREADS QENGINE=$engine $PY bench/torch_int8.py "$EPOCHS" "$N" "$BATCH" 2>/dev/null >>"$out" ||
            echo "# PyTorch engine $engine failed"
    done
else
    echo "# PyTorch missing (apt-get install -y python3-torch): its rows left out"
fi
$PY - "$out" <<'PYEOF'
import sys
rows = []
for line in open(sys.argv[1]):
    if not line.startswith("RESULT "): continue
    f = line.split()
    kv = dict(x.split("=", 1) for x in f[3:] if "=" in x)
    who = f[1] + (" (" + kv["engine"] + ")" if "engine" in kv else "")
    rows.append((who, f[2], kv))
kiln = {v: kv for who, v, kv in rows if who == "kiln"}
print("| who | weights | test accuracy | predict 1 sample, median us | p99 us | test set in batches, ms |")
print("| --- | --- | --- | --- | --- | --- |")
for who, v, kv in rows:
    print(f"| {who} | {v} | {kv['accuracy']} | {kv['predict1_median_us']} | {kv['predict1_p99_us']} | {next(v for k, v in kv.items() if k.startswith('testset_batch'))} |")
if "int8" in kiln:
    tb = lambda kv: float(next(v for k, v in kv.items() if k.startswith("testset_batch")))
    k1, kb = float(kiln["int8"]["predict1_median_us"]), tb(kiln["int8"])
    best1 = min((float(kv["predict1_median_us"]), who + " " + v) for who, v, kv in rows if who != "kiln")
    bestb = min((tb(kv), who + " " + v) for who, v, kv in rows if who != "kiln")
    print(f"\nkiln int8 against PyTorch's fastest: one sample {best1[0] / k1:.1f}x ({best1[1]}), "
          f"test set {bestb[0] / kb:.1f}x ({bestb[1]}); kiln int8 against kiln f32: one sample "
          f"{float(kiln['f32']['predict1_median_us']) / k1:.2f}x, test set {tb(kiln['f32']) / kb:.2f}x")
PYEOF
