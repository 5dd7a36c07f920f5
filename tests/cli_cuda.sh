#!/usr/bin/env bash
# cli_cuda.sh — kiln train, eval and predict with --device cuda against the same commands on
# the CPU, on a small CSV (wine: standardization fitted at train, stored in the model file):
#   - training on cuda runs resident ("resident": true) and ends near the CPU's final loss
#     (fp32 sums in another order: 1e-4 relative) with the same test accuracy; with
#     --validation-split too (the held-out rows on the device), at the host loop's val_loss;
#     with --accumulate (the sum on the device), at the host loop's final loss;
#   - the host loop (KILN_RESIDENT=0), launches without CUDA graphs (KILN_CUDA_GRAPHS=0) and
#     the gather kernel kept (KILN_CUDA_FOLD=0) end at the resident run's final loss exactly;
#     on the emulator, the default resident steps launch no gather kernel;
#   - the model trained on cuda evaluates and predicts the same on the CPU and on cuda, and
#     one trained on the CPU the same on cuda (a model file moves between devices);
#   - bf16 on cuda trains, and its accuracy is within 5 points of fp32's;
#   - with an mpirun command after the kiln path and KILN_CUDA_EMU=1 (the emulator build,
#     tests/cuda_emu: its NCCL runs on MPI; one GPU cannot hold two NCCL ranks): two ranks
#     on cuda, resident, all-reduce through NCCL inside every step (on both ranks) and end at the one
#     process's final loss to float rounding, as the host path (KILN_NCCL=0) does.
# Without a usable GPU (the message kiln gives) it exits 77, which ctest reports as skipped;
# in the emulator build (tests/cuda_emu) it runs on the CPU's emulation of the GPU.
#
# usage: tests/cli_cuda.sh PATH/TO/kiln [MPIRUN ARGS...]
set -u
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 PATH/TO/kiln [MPIRUN ARGS...]" >&2
    exit 2
fi
KILN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
MPIRUN=("$@")
cd "$(dirname "$0")/.." || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln_cuda.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=2

FAILS=0 PASSES=0
pass() { PASSES=$((PASSES + 1)); echo "PASS $1"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL $1: $2"; }
# field JSON KEY: a number or boolean of a one-line JSON object
field() { printf '%s\n' "$1" | tr ',{}' '\n\n\n' | sed -n "s/^ *\"$2\": *//p" | head -1; }

DATA="csv:tests/data/wine.csv"
TRAIN=("$KILN" train models/tabular.json --data "$DATA" --test-split 0.25 --epochs 8 --seed 7 --json --quiet)

if ! gpu=$("${TRAIN[@]}" --device cuda --out "$T/gpu" 2>"$T/err"); then
    if grep -qi "cuda" "$T/err"; then
        echo "SKIP cli_cuda: no usable GPU: $(head -1 "$T/err")"
        exit 77
    fi
    echo "FAIL train --device cuda: $(head -1 "$T/err")"
    exit 1
fi
cpu=$("${TRAIN[@]}" --threads 1 --out "$T/cpu" 2>&1 | tail -1)

[ "$(field "$gpu" resident)" = true ] && pass "train on cuda runs resident" || fail "train on cuda runs resident" "$gpu"
awk -v a="$(field "$gpu" final_loss)" -v b="$(field "$cpu" final_loss)" \
    'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= 1e-4 * (b < 0 ? -b : b)) }' &&
    pass "final loss on cuda as on the cpu ($(field "$gpu" final_loss), $(field "$cpu" final_loss))" ||
    fail "final loss on cuda as on the cpu" "$(field "$gpu" final_loss) against $(field "$cpu" final_loss)"
[ "$(field "$gpu" test_accuracy)" = "$(field "$cpu" test_accuracy)" ] &&
    pass "test accuracy on cuda as on the cpu ($(field "$gpu" test_accuracy))" ||
    fail "test accuracy on cuda as on the cpu" "$(field "$gpu" test_accuracy) against $(field "$cpu" test_accuracy)"

for knob in KILN_RESIDENT=0 KILN_CUDA_GRAPHS=0 KILN_CUDA_FOLD=0; do
    other=$(env "$knob" "${TRAIN[@]}" --device cuda 2>&1 | tail -1)
    [ -n "$(field "$other" final_loss)" ] && [ "$(field "$other" final_loss)" = "$(field "$gpu" final_loss)" ] &&
        pass "$knob: the same final loss" || fail "$knob: the same final loss" "$(field "$other" final_loss) against $(field "$gpu" final_loss)"
done

# --validation-split: the CLI holds the rows out as separate validation data, which the
# device keeps after the training rows; the validation loss as the host loop's, exactly
val=$("${TRAIN[@]}" --device cuda --validation-split 0.2 2>&1 | tail -1)
val_host=$(KILN_RESIDENT=0 "${TRAIN[@]}" --device cuda --validation-split 0.2 2>&1 | tail -1)
[ "$(field "$val" resident)" = true ] && [ -n "$(field "$val" val_loss)" ] &&
    [ "$(field "$val" val_loss)" = "$(field "$val_host" val_loss)" ] &&
    pass "--validation-split on cuda: resident, the host loop's val_loss ($(field "$val" val_loss))" ||
    fail "--validation-split on cuda: resident, the host loop's val_loss" "$val against $val_host"

# --accumulate: the gradient summed on the device, at the host loop's final loss exactly
acc=$("${TRAIN[@]}" --device cuda --accumulate 3 2>&1 | tail -1)
acc_host=$(KILN_RESIDENT=0 "${TRAIN[@]}" --device cuda --accumulate 3 2>&1 | tail -1)
[ "$(field "$acc" resident)" = true ] && [ -n "$(field "$acc" final_loss)" ] &&
    [ "$(field "$acc" final_loss)" = "$(field "$acc_host" final_loss)" ] &&
    pass "--accumulate 3 on cuda: resident, the host loop's final loss ($(field "$acc" final_loss))" ||
    fail "--accumulate 3 on cuda: resident, the host loop's final loss" "$acc against $acc_host"

# on the emulator (its kernel profile at exit): the resident steps run without a gather
# kernel, the chain and the weight gradients reading the tables through the order
prof=$(KILN_CUDA_EMU_PROFILE=1 "${TRAIN[@]}" --device cuda 2>&1 >/dev/null | grep "cuda-emu profile:")
if [ -n "$prof" ]; then
    printf '%s\n' "$prof" | grep -q dense_chain_kernel && ! printf '%s\n' "$prof" | grep -q resident_start_kernel &&
        pass "resident steps folded: no gather kernel" || fail "resident steps folded: no gather kernel" "$(printf '%s\n' "$prof" | head -4)"
fi

for model in gpu cpu; do
    e_cpu=$("$KILN" eval "$T/$model/model.kiln" --data "$DATA" --json 2>&1 | tail -1)
    e_gpu=$("$KILN" eval "$T/$model/model.kiln" --data "$DATA" --device cuda --json 2>&1 | tail -1)
    a=$(field "$e_cpu" accuracy) b=$(field "$e_gpu" accuracy)
    [ -n "$a" ] && [ "$a" = "$b" ] && pass "eval of the $model-trained model: cuda as cpu ($a)" ||
        fail "eval of the $model-trained model: cuda as cpu" "$e_gpu against $e_cpu"
done

# predict: raw rows, columns by name (the label column is ignored)
"$KILN" predict "$T/gpu/model.kiln" tests/data/wine.csv > "$T/p_cpu" 2>&1
"$KILN" predict "$T/gpu/model.kiln" tests/data/wine.csv --device cuda > "$T/p_gpu" 2>&1
rows=$(wc -l < "$T/p_cpu")
[ "$rows" -gt 100 ] && cmp -s <(cut -f1-3 "$T/p_cpu") <(cut -f1-3 "$T/p_gpu") &&
    pass "predict on cuda: the CPU's classes on $rows rows" ||
    fail "predict on cuda: the CPU's classes" "$(diff <(cut -f1-3 "$T/p_cpu") <(cut -f1-3 "$T/p_gpu") | head -3)"

bf=$("${TRAIN[@]}" --device cuda --precision bf16 2>&1 | tail -1)
awk -v a="$(field "$bf" test_accuracy)" -v b="$(field "$gpu" test_accuracy)" 'BEGIN { exit !(a != "" && a >= b - 0.05) }' &&
    pass "bf16 on cuda: accuracy $(field "$bf" test_accuracy) (fp32 $(field "$gpu" test_accuracy))" ||
    fail "bf16 on cuda" "$bf"

# close: |a - b| <= 1e-6 |b| (two ranks sum their shares in another order)
close() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= 1e-6 * (b < 0 ? -b : b)) }'; }
if [ ${#MPIRUN[@]} -gt 0 ] && [ "${KILN_CUDA_EMU:-0}" = 1 ]; then
    one=$(field "$gpu" final_loss)
    two=$(KILN_NCCL_EMU_TRACE=1 timeout 120 "${MPIRUN[@]}" -np 2 "${TRAIN[@]}" --device cuda 2>"$T/trace" | tail -1)
    steps=$(grep -c "closed after [1-9][0-9]* all-reduces" "$T/trace")
    [ "$(field "$two" ranks)" = 2 ] && [ "$steps" = 2 ] && close "$(field "$two" final_loss)" "$one" &&
        [ "$(field "$two" resident)" = true ] &&
        pass "2 ranks through NCCL, resident (the all-reduce inside the step): final loss $(field "$two" final_loss) (one process $one)" ||
        fail "2 ranks through NCCL" "$two; $(cat "$T/trace" | head -3)"
    host=$(KILN_NCCL=0 timeout 120 "${MPIRUN[@]}" -np 2 "${TRAIN[@]}" --device cuda 2>/dev/null | tail -1)
    close "$(field "$host" final_loss)" "$one" &&
        pass "2 ranks through the host (KILN_NCCL=0): final loss $(field "$host" final_loss)" ||
        fail "2 ranks through the host (KILN_NCCL=0)" "$host"
fi

echo "cli_cuda: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
