#!/usr/bin/env bash
# cli_commands.sh — the kiln commands end to end on tiny IDX data made here: train --out
# (model.kiln, history.csv), eval (JSON keys and sums, confusion.svg), predict (one
# prediction per image, top K), info (same parameter count as train), and their errors
# (exit 1 with one stderr line naming the file or shape; exit 2 for usage errors).
#
# usage: tests/cli_commands.sh PATH/TO/kiln
# Prints one line per case (PASS/FAIL/SKIP name: reason); exits 1 if any case failed.
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 PATH/TO/kiln" >&2
    exit 2
fi
KILN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln_commands.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
PY=$(command -v python3 || true)
TIMEOUT=
command -v timeout >/dev/null 2>&1 && TIMEOUT="timeout 20"
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1

FAILS=0 PASSES=0
pass() { PASSES=$((PASSES + 1)); echo "PASS $1"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL $1: $2"; }

# ---------------------------------------------------------------- tiny IDX data (as cli_bad_input.sh)

# shellcheck disable=SC2059 # the format is the bytes themselves, as octal escapes
bytes() { [ $# -gt 0 ] && printf "$(printf '\\%03o' "$@")"; }
be32() { bytes $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
# images FILE N [SIDE] : N SIDExSIDE u8 images (default 4x4).
images() {
    local f=$1 n=$2 s=${3:-4} i p
    {
        bytes 0 0 8 3; be32 "$n"; be32 "$s"; be32 "$s"
        for ((i = 0; i < n; i++)); do
            local px=()
            for ((p = 0; p < s * s; p++)); do px+=($(((i * 37 + p * 11 + (i % 3) * 60) % 256))); done
            bytes "${px[@]}"
        done
    } >"$f"
}
labels() {
    local f=$1
    shift
    { bytes 0 0 8 1; be32 $#; bytes "$@"; } >"$f"
}
DATA=$T/data
mkdir -p "$DATA"
images "$DATA/train-images-idx3-ubyte" 8
labels "$DATA/train-labels-idx1-ubyte" 0 1 2 0 1 2 0 1
images "$DATA/t10k-images-idx3-ubyte" 3
labels "$DATA/t10k-labels-idx1-ubyte" 2 1 0
# the same 3 test images as a CSV of pixel values (0-255), with a header
{
    for ((p = 0; p < 16; p++)); do printf '%spx%d' "$([ $p -gt 0 ] && echo ,)" "$p"; done; echo
    for ((i = 0; i < 3; i++)); do
        for ((p = 0; p < 16; p++)); do printf '%s%d' "$([ $p -gt 0 ] && echo ,)" $(((i * 37 + p * 11 + (i % 3) * 60) % 256)); done
        echo
    done
} >"$T/rows.csv"
printf 'a,b\n1,2\n' >"$T/narrow.csv"
NOTEST=$T/notest # a source without a test split
mkdir -p "$NOTEST"
cp "$DATA"/train-* "$NOTEST"/
images "$T/wrong-size-idx3-ubyte" 2 5 # 5x5: 25 values, the model wants 16

SPEC='{"type": "sequential", "input_shape": [16],
  "layers": [{"type": "dense", "units": 8, "activation": "relu"},
             {"type": "dense", "activation": "softmax"}],
  "loss": "sparse_categorical_crossentropy",
  "optimizer": {"type": "adam", "learning_rate": 0.01}, "batch_size": 4}'

# ---------------------------------------------------------------- helpers

# run NAME -- kiln args... : runs kiln, leaving rc in $RC, stdout in $T/out, stderr in $T/err;
# a sanitizer report (an ASan/UBSan build) fails NAME whatever the exit code.
run() {
    local name=$1
    shift 2
    (cd "$T" && $TIMEOUT "$KILN" "$@" >"$T/out" 2>"$T/err")
    RC=$?
    if grep -qE 'Sanitizer|runtime error:' "$T/err"; then
        fail "$name-sanitizer" "$(grep -m1 -E 'Sanitizer|runtime error:' "$T/err")"
    fi
}
# json NAME PYTHON-CHECK : runs the check on the last stdout line as o (a dict); prints why not.
json() {
    local name=$1 code=$2
    if [ -z "$PY" ]; then echo "SKIP $name: no python3 to read JSON"; return 0; fi
    local why
    if why=$(tail -n 1 "$T/out" | "$PY" -c "
import json, math, sys
o = json.loads(sys.stdin.read())
assert isinstance(o, dict), 'the last stdout line is not a JSON object'
$code
" 2>&1); then pass "$name"; else fail "$name" "$(printf '%s' "$why" | tail -n 1)"; fi
}
# expect_error NAME RC FRAGMENT -- kiln args... : exit RC, one stderr line containing FRAGMENT.
expect_error() {
    local name=$1 want=$2 frag=$3
    shift 3
    run "$name" "$@"
    local lines
    lines=$(wc -l <"$T/err")
    if [ "$RC" -ge 124 ]; then fail "$name" "crashed or timed out (exit $RC): $(head -n 1 "$T/err")"
    elif [ "$RC" -ne "$want" ]; then fail "$name" "exit $RC, expected $want: $(head -n 1 "$T/err")"
    elif [ "$lines" -ne 1 ]; then fail "$name" "stderr has $lines lines, expected 1"
    elif ! grep -qF -- "$frag" "$T/err"; then fail "$name" "stderr lacks '$frag': $(head -n 1 "$T/err")"
    else pass "$name"; fi
}

# ---------------------------------------------------------------- train --out

OUT=$T/run/nested # mkdir -p: neither folder exists yet
run train -- train "$SPEC" --data "idx:$DATA" --epochs 3 --out "$OUT" --json --quiet
if [ "$RC" -ne 0 ]; then
    fail train-out "exit $RC: $(head -n 1 "$T/err")"
else
    pass train-out
    TRAIN_PARAMS=$(tail -n 1 "$T/out")
    json train-json-model "assert o['model'] == '$OUT/model.kiln', o.get('model')"
fi
if [ -s "$OUT/model.kiln" ]; then pass train-model-file; else fail train-model-file "no $OUT/model.kiln"; fi
if grep -q '<polyline' "$OUT/curves.svg" 2>/dev/null && tail -n 1 "$OUT/curves.svg" | grep -q '</svg>'; then
    pass train-curves-svg
else
    fail train-curves-svg "no complete $OUT/curves.svg"
fi
if [ -f "$OUT/history.csv" ] &&
    [ "$(head -n 1 "$OUT/history.csv")" = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,learning_rate" ] &&
    [ "$(wc -l <"$OUT/history.csv")" -eq 4 ] && [ "$(sed -n 4p "$OUT/history.csv" | cut -d, -f1)" = 3 ] &&
    [ "$(sed -n 2p "$OUT/history.csv" | cut -d, -f4)" = "" ]; then
    pass train-history-csv
else
    fail train-history-csv "want a header and 3 epoch rows (val_loss empty): $(tr '\n' '|' <"$OUT/history.csv" 2>/dev/null)"
fi
leftover=$(find "$OUT" -name '*.tmp.*' | head -n 1)
if [ -z "$leftover" ]; then pass train-no-temporaries; else fail train-no-temporaries "left $leftover"; fi
# ---------------------------------------------------------------- checkpoint and resume
# one epoch with checkpoints, then --resume to 3 epochs: the same weights as 3 epochs at once
RES=$T/resumed
run train-checkpoint -- train "$SPEC" --data "idx:$DATA" --epochs 1 --out "$RES" --checkpoint-every 1 --quiet
if [ "$RC" -eq 0 ] && [ -s "$RES/checkpoint.kiln" ]; then pass train-checkpoint; else fail train-checkpoint "exit $RC, no checkpoint"; fi
run train-resume -- train --resume "$RES" --data "idx:$DATA" --epochs 3 --quiet
if [ "$RC" -eq 0 ] && [ "$(wc -l <"$RES/history.csv")" -eq 4 ]; then pass train-resume; else
    fail train-resume "exit $RC: $(head -n 1 "$T/err")"; fi
run predict-a -- predict "$OUT/model.kiln" "$DATA/t10k-images-idx3-ubyte" --top 3
cp "$T/out" "$T/pred_a"
run predict-b -- predict "$RES/model.kiln" "$DATA/t10k-images-idx3-ubyte" --top 3
if cmp -s "$T/out" "$T/pred_a"; then pass resume-bit-identical; else fail resume-bit-identical "predictions differ"; fi
mkdir -p "$T/nock" && cp "$OUT/model.kiln" "$T/nock/checkpoint.kiln" # a model, not a checkpoint
expect_error resume-not-checkpoint 1 "not a checkpoint" -- train --resume "$T/nock" --data "idx:$DATA" --quiet
expect_error resume-missing 1 "checkpoint.kiln" -- train --resume "$T/nowhere" --data "idx:$DATA" --quiet
expect_error checkpoint-needs-out 2 "--out" -- train "$SPEC" --data "idx:$DATA" --checkpoint-every 2

# ---------------------------------------------------------------- optimizers from a description
# optimizer_run NAME SPEC CHECK: SPEC trained 3 epochs into $T/NAME, the model file's
# optimizer (opt, from kiln info --json) passing the Python CHECK; then SPEC checkpointed every
# step of one epoch and resumed to 3 predicts exactly as the 3 epochs at once
optimizer_run() {
    name=$1; spec=$2; check=$3
    run "train-$name" -- train "$spec" --data "idx:$DATA" --epochs 3 --out "$T/$name" --json --quiet
    if [ "$RC" -ne 0 ]; then fail "train-$name" "exit $RC: $(head -n 1 "$T/err")"; else
        json "train-$name-json" "assert o['epochs'] == 3 and math.isfinite(o['final_loss']), o"
        run "info-$name" -- info "$T/$name/model.kiln" --json
        json "info-$name-optimizer" "
opt = o['architecture']['optimizer']
$check"
    fi
    run "train-$name-checkpoint" -- train "$spec" --data "idx:$DATA" --epochs 1 --out "$T/${name}_res" --checkpoint-every 1 --quiet
    run "train-$name-resume" -- train --resume "$T/${name}_res" --data "idx:$DATA" --epochs 3 --quiet
    if [ "$RC" -ne 0 ]; then fail "train-$name-resume" "exit $RC: $(head -n 1 "$T/err")"; else
        run "predict-$name-a" -- predict "$T/$name/model.kiln" "$DATA/t10k-images-idx3-ubyte" --top 3
        cp "$T/out" "$T/pred_$name"
        run "predict-$name-b" -- predict "$T/${name}_res/model.kiln" "$DATA/t10k-images-idx3-ubyte" --top 3
        if cmp -s "$T/out" "$T/pred_$name"; then pass "$name-resume-bit-identical"; else
            fail "$name-resume-bit-identical" "predictions differ"; fi
    fi
}
# (Nadam's product of its momentum schedule resumes with the step)
NSPEC=$(printf '%s' "$SPEC" | sed 's/"type": "adam"/"type": "nadam", "momentum_decay": 0.004/')
optimizer_run nadam "$NSPEC" "
assert opt['type'] == 'nadam' and abs(opt['momentum_decay'] - 0.004) < 1e-9 and abs(opt['learning_rate'] - 0.01) < 1e-9, opt"
# ftrl: every setting kept; the accumulators and linear terms resume with the checkpoint
FSPEC=$(printf '%s' "$SPEC" | sed 's/"type": "adam"/"type": "ftrl", "learning_rate_power": -0.6, "l1_regularization_strength": 0.0001, "l2_shrinkage_regularization_strength": 0.001, "beta": 0.1/')
optimizer_run ftrl "$FSPEC" "
assert opt['type'] == 'ftrl' and abs(opt['learning_rate_power'] + 0.6) < 1e-7 and abs(opt['l1_regularization_strength'] - 1e-4) < 1e-10, opt
assert abs(opt['l2_shrinkage_regularization_strength'] - 1e-3) < 1e-10 and abs(opt['beta'] - 0.1) < 1e-8 and opt['l2_regularization_strength'] == 0, opt"
# adamw with AMSGrad: its third state slot (the largest second moments) resumes too
ASPEC=$(printf '%s' "$SPEC" | sed 's/"type": "adam"/"type": "adamw", "amsgrad": true/')
optimizer_run amsgrad "$ASPEC" "
assert opt['type'] == 'adamw' and opt['amsgrad'] is True and abs(opt['weight_decay'] - 0.004) < 1e-9, opt"
# a schedule resumes with the checkpoint (no SPEC given) and with its step, plain SGD (no
# optimizer state) included: the rates and the weights as the uninterrupted run's
SSPEC=$(printf '%s' "$SPEC" | sed 's/"type": "adam"/"type": "sgd", "learning_rate": 0.1/' |
    sed 's/"loss":/"schedule": {"type": "multi_step", "milestones": [5, 9], "gamma": 0.3}, "loss":/')
run train-schedule-whole -- train "$SSPEC" --data "idx:$DATA" --epochs 3 --out "$T/sched_a" --quiet
run train-schedule-checkpoint -- train "$SSPEC" --data "idx:$DATA" --epochs 1 --out "$T/sched_b" --checkpoint-every 2 --quiet
run train-schedule-resume -- train --resume "$T/sched_b" --data "idx:$DATA" --epochs 3 --quiet
if [ "$RC" -ne 0 ]; then fail train-schedule-resume "exit $RC: $(head -n 1 "$T/err")"; else
    if cmp -s <(cut -d, -f1,2,7 "$T/sched_a/history.csv") <(cut -d, -f1,2,7 "$T/sched_b/history.csv") &&
        [ "$(cut -d, -f7 "$T/sched_a/history.csv" | sort -u | wc -l)" -ge 3 ]; then pass schedule-resume-rates; else
        fail schedule-resume-rates "history differs or the rate never fell: $(cut -d, -f7 "$T/sched_b/history.csv" | tr '\n' ' ')"; fi
    run predict-sched-a -- predict "$T/sched_a/model.kiln" "$DATA/t10k-images-idx3-ubyte" --top 3
    cp "$T/out" "$T/pred_sched"
    run predict-sched-b -- predict "$T/sched_b/model.kiln" "$DATA/t10k-images-idx3-ubyte" --top 3
    if cmp -s "$T/out" "$T/pred_sched"; then pass schedule-resume-bit-identical; else
        fail schedule-resume-bit-identical "predictions differ"; fi
fi
run train-optimizer-nadam -- train "$SPEC" --data "idx:$DATA" --epochs 1 --optimizer nadam --json --quiet
if [ "$RC" -ne 0 ]; then fail train-optimizer-nadam "exit $RC: $(head -n 1 "$T/err")"; else
    json train-optimizer-nadam-json "assert math.isfinite(o['final_loss']), o"
fi

touch "$T/afile"
expect_error train-out-uncreatable 1 "$T/afile/sub" -- train "$SPEC" --data "idx:$DATA" --out "$T/afile/sub" --quiet

MODEL=$OUT/model.kiln

# ---------------------------------------------------------------- eval

run eval -- eval "$MODEL" --data "idx:$DATA" --out "$T/ev" --json --quiet
if [ "$RC" -ne 0 ]; then fail eval "exit $RC: $(head -n 1 "$T/err")"; else
    json eval-json "
for k in ('n', 'loss', 'accuracy', 'precision_macro', 'recall_macro', 'f1_macro', 'f1_micro', 'f1_weighted',
          'labels', 'per_class', 'confusion'):
    assert k in o, 'no key ' + k
assert o['n'] == 3, o['n']
assert 0 <= o['accuracy'] <= 1, o['accuracy']
assert abs(o['log_loss'] - o['loss']) < 1e-3 * o['loss'] + 1e-5, (o['log_loss'], o['loss'])  # the same quantity
assert 'roc_auc' not in o  # three classes
assert 0 <= o['roc_auc_ovr'] <= 1 and abs(o['roc_auc_ovr'] - o['roc_auc_ovr_weighted']) < 1e-12, o  # one row a class: equal weights
assert o['labels'] == ['0', '1', '2'], o['labels']
assert len(o['per_class']) == 3 and all(set(p) == {'label', 'precision', 'recall', 'f1', 'support'} for p in o['per_class'])
assert [p['support'] for p in o['per_class']] == [1, 1, 1], o['per_class']
c = o['confusion']
assert len(c) == 3 and all(len(r) == 3 for r in c), c
assert sum(map(sum, c)) == o['n'], 'confusion sums to %d, n is %d' % (sum(map(sum, c)), o['n'])
assert abs(sum(c[i][i] for i in range(3)) / o['n'] - o['accuracy']) < 1e-9, 'accuracy is not the diagonal'
"
fi
if [ -s "$T/ev/confusion.svg" ] && { [ -z "$PY" ] || "$PY" -c "
import sys, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
assert r.tag.endswith('svg') and len(r.findall('.//{http://www.w3.org/2000/svg}rect')) >= 9
" "$T/ev/confusion.svg" 2>/dev/null; }; then pass eval-confusion-svg; else fail eval-confusion-svg "missing or not an SVG with 9 cells"; fi
run eval-human -- eval "$MODEL" --data "idx:$DATA"
if [ "$RC" -eq 0 ] && grep -q '^ *accuracy  ' "$T/out" && grep -q 'weighted avg' "$T/out" && grep -q '^confusion matrix' "$T/out"; then pass eval-human
else fail eval-human "exit $RC, or no accuracy / confusion matrix lines"; fi
run eval-no-test-split -- eval "$MODEL" --data "idx:$NOTEST" --json --quiet
if [ "$RC" -eq 0 ] && grep -q "train split" "$T/err"; then
    json eval-no-test-split "assert o['n'] == 8, o['n']"
else fail eval-no-test-split "exit $RC, or stderr does not say the train split is used: $(head -n 1 "$T/err")"; fi

# ---------------------------------------------------------------- predict

run predict -- predict "$MODEL" "$DATA/t10k-images-idx3-ubyte" --top 2 --json
if [ "$RC" -ne 0 ]; then fail predict "exit $RC: $(head -n 1 "$T/err")"; else
    json predict-json "
p = o['predictions']
assert len(p) == 3, '%d predictions for 3 images' % len(p)
for i, r in enumerate(p):
    assert r['index'] == i and r['label'] == str(r['class']) and 0 <= r['class'] < 3, r
    assert len(r['top']) == 2, r['top']
    assert r['top'][0]['class'] == r['class'] and r['top'][0]['probability'] == r['probability'], r
    assert r['top'][0]['probability'] >= r['top'][1]['probability'], r['top']
    s = sum(t['probability'] for t in r['top'])
    assert 0 <= s <= 1 + 1e-6, 'top probabilities sum to %g' % s  # float32 softmax: 1 within rounding
"
fi
# a CSV of the same pixels predicts exactly what the IDX file does (the input scale applied)
run predict-idx-plain -- predict "$MODEL" "$DATA/t10k-images-idx3-ubyte"
cp "$T/out" "$T/pred_idx"
run predict-csv -- predict "$MODEL" "$T/rows.csv"
if [ "$RC" -eq 0 ] && cmp -s "$T/out" "$T/pred_idx"; then pass predict-csv; else fail predict-csv "exit $RC or differs from the IDX predictions"; fi
expect_error predict-csv-narrow 1 "2 numeric columns" -- predict "$MODEL" "$T/narrow.csv"
run predict-human -- predict "$MODEL" "$DATA/t10k-images-idx3-ubyte"
if [ "$RC" -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 4 ]; then pass predict-human
else fail predict-human "exit $RC, $(wc -l <"$T/out") lines (want a header and 3 rows)"; fi
expect_error predict-top-too-many 2 "--top" -- predict "$MODEL" "$DATA/t10k-images-idx3-ubyte" --top 4
# --int8: the dense layers on 8-bit integers (dynamic quantization); probabilities still
# sum to 1 and eval reports the same keys; a classical model is refused in one line
run predict-int8 -- predict "$MODEL" "$DATA/t10k-images-idx3-ubyte" --top 3 --int8 --json
if [ "$RC" -ne 0 ]; then fail predict-int8 "exit $RC: $(head -n 1 "$T/err")"; else
    json predict-int8-json "
p = o['predictions']
assert len(p) == 3, '%d predictions for 3 images' % len(p)
for r in p:
    s = sum(t['probability'] for t in r['top'])
    assert abs(s - 1) < 1e-4, 'int8 probabilities sum to %g' % s
"
fi
run eval-int8 -- eval "$MODEL" --data "idx:$DATA" --int8 --json --quiet
if [ "$RC" -ne 0 ]; then fail eval-int8 "exit $RC: $(head -n 1 "$T/err")"; else
    json eval-int8-json "assert o['n'] == 3 and 0 <= o['accuracy'] <= 1 and math.isfinite(o['loss']), o"
fi

# ---------------------------------------------------------------- info

run info -- info "$MODEL" --json
if [ "$RC" -ne 0 ]; then fail info "exit $RC: $(head -n 1 "$T/err")"; else
    json info-json "
t = json.loads('''$TRAIN_PARAMS''')
assert o['params'] == t['params'], 'info says %s parameters, train said %s' % (o['params'], t['params'])
for k in ('model_type', 'bytes', 'dtypes', 'input_size', 'outputs', 'labels', 'input_scale', 'format_version'):
    assert k in o, 'no key ' + k
assert o['input_size'] == 16 and o['outputs'] == 3 and o['format_version'] == 1, o
assert isinstance(o['architecture'], dict) and o['architecture']['layers'][0]['units'] == 8, o['architecture']
assert isinstance(o['training'], dict) and o['training']['epochs'] == 3, o['training']
import os
assert o['bytes'] == os.path.getsize('$MODEL'), 'bytes'
"
fi

# ---------------------------------------------------------------- convert (half-precision files)

for to in fp16 bf16; do
    run "convert-$to" -- convert "$MODEL" --to $to "$T/m_$to.kiln" --json
    if [ "$RC" -ne 0 ]; then fail "convert-$to" "exit $RC: $(head -n 1 "$T/err")"; else
        want=$([ $to = fp16 ] && echo F16 || echo BF16)
        json "convert-$to-json" "assert o['dtype'] == '$want' and o['bytes_out'] < o['bytes_in'] and o['params'] > 0, o"
        run "info-$to" -- info "$T/m_$to.kiln" --json
        json "info-$to-json" "assert o['dtypes'] == ['$want'] and o['labels'] and o['training']['epochs'] == 3, o"
        run "predict-$to" -- predict "$T/m_$to.kiln" "$DATA/t10k-images-idx3-ubyte"
        if [ "$RC" -eq 0 ] && [ "$(wc -l <"$T/out")" -ge 3 ]; then pass "predict-$to"; else fail "predict-$to" "exit $RC: $(head -n 1 "$T/err")"; fi
        run "eval-$to" -- eval "$T/m_$to.kiln" --data "idx:$DATA" --json --quiet
        json "eval-$to-json" "assert o['n'] == 3, o"
        mkdir -p "$T/res_$to" && cp "$T/m_$to.kiln" "$T/res_$to/checkpoint.kiln"
        expect_error "resume-$to" 1 "for inference" -- train --resume "$T/res_$to" --data "idx:$DATA" --quiet
    fi
done
expect_error convert-bad-to 2 "--to" -- convert "$MODEL" --to fp8 "$T/x.kiln"
expect_error convert-no-to 2 "--to" -- convert "$MODEL" "$T/x.kiln"
expect_error convert-no-out 2 "OUT" -- convert "$MODEL" --to bf16
expect_error convert-missing 1 "$T/nope.kiln" -- convert "$T/nope.kiln" --to fp16 "$T/x.kiln"
expect_error convert-unwritable 1 "$T/afile/x.kiln" -- convert "$MODEL" --to fp16 "$T/afile/x.kiln"
if [ -e "$T/x.kiln" ] || ls "$T"/x.kiln.tmp.* >/dev/null 2>&1; then fail convert-nothing-left "a failed convert left a file"
else pass convert-nothing-left; fi

# ---------------------------------------------------------------- import (ONNX)
ONNX=$(cd "$(dirname "$0")" && pwd)/data/onnx
run import-onnx -- import "$ONNX/cnn.onnx" "$T/cnn_onnx.kiln" --json
json import-onnx-json "d = o['description']; assert o['inputs'] == 360 and o['outputs'] == 5 and d['input_shape'] == [12, 10, 3] and d['layers'][2]['type'] == 'zero_padding2d' and d['loss'] == 'mse', o"
run info-onnx -- info "$T/cnn_onnx.kiln"
if [ "$RC" -eq 0 ] && grep -q 'depthwise_conv2d' "$T/out"; then pass info-onnx; else fail info-onnx "exit $RC: $(head -n 1 "$T/err")"; fi
# info, eval, predict and convert read an .onnx file directly (imported as kiln import would)
run info-onnx-direct -- info "$ONNX/cnn.onnx" --json
json info-onnx-direct-json "assert o['format'] == 'onnx' and o['input_size'] == 360 and o['outputs'] == 5 and o['architecture']['input_shape'] == [12, 10, 3], o"
run convert-onnx -- convert "$ONNX/cnn.onnx" --to bf16 "$T/cnn_bf16.kiln" --json
json convert-onnx-json "assert o['dtype'] == 'BF16' and o['params'] > 0, o"
run import-onnx-loss -- import "$ONNX/cnn.onnx" "$T/cnn_ce.kiln" --loss sparse_categorical_crossentropy --json
json import-onnx-loss-json "d = o['description']; assert d['loss'] == 'sparse_categorical_crossentropy' and d['from_logits'] is True, o"
expect_error import-outputs 1 "kiln imports models of one output" -- import "$ONNX/two_outputs.onnx" "$T/r.kiln"
run import-residual -- import "$ONNX/branches.onnx" "$T/branches.kiln" --json
json import-residual-json "l = o['description']['layers']; assert [x['type'] for x in l if 'inputs' in x] == ['conv2d', 'concatenate', 'add', 'multiply', 'maximum', 'subtract'] and l[2]['inputs'] == ['conv2d_0', 'conv2d_1'], l"
expect_error import-op 1 "(Abs): not an op kiln imports" -- import "$ONNX/abs.onnx" "$T/r.kiln"
expect_error import-not-onnx 1 "truncated or malformed" -- import "$MODEL" "$T/r.kiln"
expect_error import-no-out 2 "missing OUT" -- import "$ONNX/cnn.onnx"
expect_error import-bad-loss 2 "--loss: unknown loss 'hinge2'" -- import "$ONNX/cnn.onnx" "$T/r.kiln" --loss hinge2
if [ -e "$T/r.kiln" ]; then fail import-nothing-left "a failed import left a file"; else pass import-nothing-left; fi
# export: a kiln model as ONNX (test_onnx checks the files with onnx.checker and numpy)
run export-onnx -- export "$T/branches.kiln" "$T/branches_out.onnx" --json
json export-onnx-json "assert o['params'] == 3876 and o['bytes'] > 4 * 3876, o"
run reimport-onnx -- import "$T/branches_out.onnx" "$T/branches_back.kiln" --json
json reimport-onnx-json "assert o['params'] == 3876 and o['inputs'] == 192, o"
run export-mlp -- export "$MODEL" "$T/mlp_out.onnx" --quiet
if [ "$RC" -eq 0 ] && [ -s "$T/mlp_out.onnx" ]; then pass export-mlp; else fail export-mlp "exit $RC: $(head -n 1 "$T/err")"; fi
expect_error export-no-out 2 "missing OUT" -- export "$T/branches.kiln"
if [ -e "$T/x.onnx" ]; then fail export-nothing-left "a failed export left a file"; else pass export-nothing-left; fi
# a CSV model's preprocessing (missing values imputed, constant columns dropped, poly=2,
# scaling, PCA) begins its ONNX graph: raw columns in, kiln predict's values out; the same
# for classical models (onnx_export_classic.c): linear models, trees, forests, boosted
# trees, naive Bayes, kNN and SVMs (SVR and LinearSVR too). numpy (tests/onnx_eval.py, with ai.onnx.ml's
# TreeEnsembleRegressor) runs each export on raw rows with a missing value.
TESTS=$(cd "$(dirname "$0")" && pwd)
for data in iris diabetes breast_cancer wine; do # the first three rows without the target, the second missing its second value
    awk -F, -v OFS=, 'NR <= 4 { NF--; if (NR == 3) $2 = ""; print }' "$TESTS/data/$data.csv" >"$T/${data}_rows.csv"
    awk -F, -v OFS=' ' 'NR >= 2 && NR <= 4 { NF--; if (NR == 3) $2 = "nan"; $1 = $1; print }' "$TESTS/data/$data.csv" >"$T/${data}_raw.txt"
done
for spec in '{"layers": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dense", "units": 3, "activation": "softmax"}], "epochs": 5}|iris:poly=2:pca=5' \
    '{"type": "logistic_regression"}|iris' '{"type": "decision_tree", "max_depth": 4}|iris' \
    '{"type": "random_forest", "n_estimators": 7}|iris' '{"type": "hist_gradient_boosting", "max_iter": 8}|iris' \
    '{"type": "linear_regression"}|diabetes' '{"type": "lasso", "alpha": 0.1}|diabetes' \
    '{"type": "hist_gradient_boosting", "max_iter": 8}|diabetes' '{"type": "linear_svm"}|iris' \
    '{"type": "linear_svm"}|breast_cancer' '{"type": "gaussian_nb"}|iris' '{"type": "multinomial_nb"}|iris:scale=minmax' \
    '{"type": "complement_nb"}|iris:scale=none' '{"type": "bernoulli_nb", "binarize": 0.5}|iris' \
    '{"type": "bernoulli_nb", "binarize": null}|wine:scale=minmax' '{"type": "k_nearest_neighbors"}|iris' \
    '{"type": "k_nearest_neighbors", "n_neighbors": 4, "weights": "distance", "metric": "manhattan"}|wine' \
    '{"type": "k_nearest_neighbors", "n_neighbors": 3, "p": 3}|breast_cancer' \
    '{"type": "k_nearest_neighbors", "n_neighbors": 6, "weights": "distance", "metric": "chebyshev"}|diabetes' \
    '{"type": "svm", "C": 100, "epsilon": 5}|diabetes' '{"type": "svm", "kernel": "poly", "degree": 2, "C": 50}|diabetes' \
    '{"type": "linear_svm", "C": 10, "epsilon": 5, "max_iter": 20000}|diabetes' '{"type": "svm", "nu": 0.4, "C": 50}|diabetes' \
    '{"type": "svm", "nu": 0.3}|wine' \
    '{"type": "svm"}|iris' '{"type": "svm", "kernel": "poly", "degree": 2, "coef0": 1}|wine' \
    '{"type": "svm", "kernel": "sigmoid", "gamma": 0.01}|breast_cancer' '{"type": "svm", "kernel": "linear", "C": 0.5}|iris'; do
    model=${spec%|*} source=${spec##*|}
    data=${source%%:*}
    top=$([ "$data" = breast_cancer ] && echo 2 || echo 3)
    cases=$((${cases:-0} + 1))
    name=export-$(echo "$model" | sed 's/{"type": "\([a-z_]*\)".*/\1/; s/{"layers".*/network/')-$data-$cases
    rm -rf "$T/classic"
    run "$name-train" -- train "$model" --data "csv:$TESTS/data/$data.csv${source#"$data"}" --out "$T/classic" --quiet
    run "$name-predict" -- predict "$T/classic/model.kiln" "$T/${data}_rows.csv" --top "$top" --json
    cp "$T/out" "$T/classic_pred.json"
    run "$name" -- export "$T/classic/model.kiln" "$T/classic.onnx" --quiet
    if [ "$RC" -ne 0 ]; then fail "$name" "exit $RC: $(head -n 1 "$T/err")"; continue; fi
    if ! /usr/bin/python3 -c 'import onnx' 2>/dev/null; then echo "SKIP $name: python3-onnx needed"; continue; fi
    if /usr/bin/python3 "$TESTS/onnx_eval.py" "$T/classic.onnx" "$T/${data}_raw.txt" >"$T/classic_onnx.txt" 2>"$T/err" &&
        why=$(/usr/bin/python3 -c "
import json, sys
pred = json.load(open(sys.argv[1]))['predictions']
rows = [list(map(float, line.split())) for line in open(sys.argv[2])]
assert len(pred) == len(rows) == 3, (len(pred), len(rows))
for p, r in zip(pred, rows):
    pairs = [(t['probability'], r[t['class']]) for t in p['top']] if 'top' in p else [(p['value'], r[0])]
    for want, got in pairs:
        assert abs(want - got) <= 1e-5 * (1 + abs(want)), (p, r)
" "$T/classic_pred.json" "$T/classic_onnx.txt" 2>&1); then pass "$name"
    else fail "$name" "$(head -n 1 "$T/err") $why"; fi
done
# int8 inference is for networks: the last classical model of the loop (an SVM on iris) is refused
expect_error predict-int8-classical 1 "not a network" -- predict "$T/classic/model.kiln" "$T/iris_rows.csv" --int8
run train-svm-proba -- train '{"type": "svm", "probability": true}' --data "csv:$TESTS/data/iris.csv" --out "$T/svm" --quiet
expect_error export-svm-proba 1 "an svm with probability: true" -- export "$T/svm/model.kiln" "$T/svm.onnx"
rm -rf "$T/classic"
# a categorical column has no float graph: refused naming it; --network-only exports the network
printf 'color,size,y\nred,1,a\nblue,2,b\nred,3,a\ngreen,4,b\nblue,5,a\nred,6,b\n' >"$T/colors.csv"
run train-colors -- train '{"layers": [{"type": "dense", "units": 2, "activation": "softmax"}], "epochs": 1}' \
    --data "csv:$T/colors.csv" --out "$T/colors" --quiet
expect_error export-prep-categorical 1 "column 'color' is categorical" -- export "$T/colors/model.kiln" "$T/colors.onnx"
run export-network-only -- export "$T/colors/model.kiln" "$T/colors.onnx" --network-only --json
json export-network-only-json "assert o['params'] > 0, o"

# ---------------------------------------------------------------- graph, --passes

run graph-json -- graph "$SPEC" --data "idx:$DATA" --training --json --dot "$T/g.dot"
if [ "$RC" -ne 0 ]; then fail graph-json "exit $RC: $(head -n 1 "$T/err")"; else
    json graph-json-keys "
for k in ['nodes_before', 'nodes_after', 'passes', 'fused', 'arena_bytes', 'naive_bytes', 'param_bytes', 'grad_bytes', 'optimizer_bytes']:
    assert k in o, 'missing ' + k
assert [p['name'] for p in o['passes']] == ['dce', 'fold', 'cse', 'simplify', 'fuse', 'inplace'], o['passes']
assert o['nodes_after'] < o['nodes_before'], (o['nodes_before'], o['nodes_after'])
assert o['passes'][-1]['nodes_after'] == o['nodes_after']
assert 'matmul+add+relu' in o['fused'] and any(f.startswith('adam') for f in o['fused']), o['fused']
assert 0 < o['arena_bytes'] <= o['naive_bytes'], (o['arena_bytes'], o['naive_bytes'])
assert o['param_bytes'] > 0 and o['grad_bytes'] == o['param_bytes'] and o['optimizer_bytes'] == 2 * o['param_bytes']
"
fi
if grep -q '^digraph' "$T/g.dot" && tail -n 1 "$T/g.dot" | grep -q '^}'; then pass graph-dot; else fail graph-dot "no complete $T/g.dot"; fi
run graph-none -- graph "$SPEC" --data "idx:$DATA" --training --passes none --json
json graph-none-json "assert o['passes'] == [] and o['fused'] == [] and o['nodes_after'] == o['nodes_before'], o"
run graph-exclude -- graph "$SPEC" --data "idx:$DATA" --passes -fuse,-inplace --json
json graph-exclude-json "assert [p['name'] for p in o['passes']] == ['dce', 'fold', 'cse', 'simplify'] and o['grad_bytes'] == 0, o"
run graph-text -- graph "$SPEC" --data "idx:$DATA" --training
if [ "$RC" -eq 0 ] && grep -q 'fused kernels' "$T/out" && grep -q 'arena:' "$T/out"; then pass graph-text; else fail graph-text "exit $RC"; fi
# the same training with the passes off reaches the same place (to float rounding)
run train-passes-none -- train "$SPEC" --data "idx:$DATA" --epochs 2 --passes none --json --quiet
if [ "$RC" -eq 0 ] && [ -n "$PY" ]; then
    NONE_LOSS=$(tail -n 1 "$T/out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["final_loss"])')
    run train-passes-all -- train "$SPEC" --data "idx:$DATA" --epochs 2 --json --quiet
    json train-passes-same-loss "assert abs(o['final_loss'] - $NONE_LOSS) <= 1e-3 * abs($NONE_LOSS) + 1e-5, (o['final_loss'], $NONE_LOSS)"
else
    fail train-passes-none "exit $RC: $(head -n 1 "$T/err")"
fi
# training control: a cosine schedule over the run, early stopping, the best model saved
CTL=$T/ctl
run train-control -- train "$SPEC" --data "idx:$DATA" --epochs 6 --validation-split 0.25 --schedule cosine \
    --warmup-steps 2 --early-stopping 2 --save-best --out "$CTL" --json --quiet
if [ "$RC" -ne 0 ]; then fail train-control "exit $RC: $(head -n 1 "$T/err")"; else
    json train-control-json "assert 1 <= o['epochs'] <= 6 and 1 <= o['best_epoch'] <= o['epochs'], o"
    if [ -s "$CTL/best.kiln" ]; then pass train-control-best; else fail train-control-best "no $CTL/best.kiln"; fi
    # the cosine rate falls epoch by epoch (history.csv's last column)
    if awk -F, 'NR > 2 && $7 >= prev {bad = 1} NR > 1 {prev = $7} END {exit bad}' "$CTL/history.csv"; then
        pass train-control-schedule
    else
        fail train-control-schedule "learning rates do not fall: $(cut -d, -f7 "$CTL/history.csv" | tr '\n' ' ')"
    fi
fi
run train-accumulate -- train "$SPEC" --data "idx:$DATA" --epochs 1 --batch-size 2 --accumulate 2 --json --quiet
json train-accumulate-json "assert o['steps'] * 2 >= o['n_train'] // 2 and o['batch_size'] == 2, o"
expect_error train-bad-accumulate 2 "--accumulate" -- train "$SPEC" --data "idx:$DATA" --accumulate 0
run train-class-weight -- train "$SPEC" --data "idx:$DATA" --epochs 1 --class-weight balanced --json --quiet
json train-class-weight-json "assert o['epochs'] == 1, o"
expect_error train-bad-class-weight 2 "--class-weight" -- train "$SPEC" --data "idx:$DATA" --class-weight 1,x
expect_error train-few-class-weights 1 "class weights" -- train "$SPEC" --data "idx:$DATA" --class-weight 1
run train-test-split -- train "$SPEC" --data "idx:$NOTEST" --epochs 1 --test-split 0.25 --json --quiet
json train-test-split-json "assert o['n_test'] > 0 and o['n_test'] + o['n_train'] <= 12 and 'test_accuracy' in o, o"
expect_error train-bad-test-split 2 "--test-split" -- train "$SPEC" --data "idx:$NOTEST" --test-split 1.5
run cv -- cv "$SPEC" --data "idx:$DATA" --folds 3 --epochs 1 --json --quiet
json cv-json "
assert o['folds'] == 3 and len(o['per_fold']) == 3, o
for k in ('loss', 'accuracy', 'f1_macro'):
    assert 'mean_' + k in o and 'std_' + k in o, k
assert abs(o['mean_accuracy'] - sum(f['accuracy'] for f in o['per_fold']) / 3) < 1e-9
"
expect_error cv-no-data 2 "--data" -- cv "$SPEC"
expect_error cv-bad-folds 2 "--folds" -- cv "$SPEC" --data "idx:$DATA" --folds 1
expect_error train-bad-schedule 2 "cosin" -- train "$SPEC" --data "idx:$DATA" --schedule cosin
expect_error train-piecewise-no-steps 2 "boundaries and values" -- train "$SPEC" --data "idx:$DATA" --schedule piecewise_constant
expect_error train-save-best-no-out 2 "--out" -- train "$SPEC" --data "idx:$DATA" --save-best
# without validation data early stopping watches the training loss
run train-early-stopping-loss -- train "$SPEC" --data "idx:$DATA" --epochs 3 --early-stopping 1 --json --quiet
json train-early-stopping-loss-json "assert o['epochs'] <= 3 and o['best_epoch'] >= 1, o"
expect_error graph-bad-passes 2 "bogus" -- graph "$SPEC" --passes dce,bogus
expect_error train-bad-passes 2 "bogus" -- train "$SPEC" --data "idx:$DATA" --passes bogus
expect_error graph-no-spec 2 "SPEC" -- graph
expect_error graph-missing-spec 1 "/nonexistent.json" -- graph /nonexistent.json

# ---------------------------------------------------------------- errors

expect_error eval-missing-model 1 "$T/nonexistent.kiln" -- eval "$T/nonexistent.kiln" --data "idx:$DATA"
expect_error predict-wrong-size 1 "expects 16" -- predict "$MODEL" "$T/wrong-size-idx3-ubyte"
# one byte of the last parameter changed: the checksum no longer matches
cp "$MODEL" "$T/corrupt.kiln"
size=$(wc -c <"$T/corrupt.kiln")
old=$(od -An -tu1 -j $((size - 3)) -N 1 "$T/corrupt.kiln" | tr -d ' ')
bytes $(((old + 1) % 256)) | dd of="$T/corrupt.kiln" bs=1 seek=$((size - 3)) conv=notrunc 2>/dev/null
expect_error predict-corrupt-model 1 "corrupt.kiln" -- predict "$T/corrupt.kiln" "$DATA/t10k-images-idx3-ubyte"
expect_error info-corrupt-model 1 "corrupt.kiln" -- info "$T/corrupt.kiln"
head -c 100 "$MODEL" >"$T/truncated.kiln"
expect_error eval-truncated-model 1 "truncated.kiln" -- eval "$T/truncated.kiln" --data "idx:$DATA"
expect_error predict-missing-input 1 "nope-idx3-ubyte" -- predict "$MODEL" "$T/nope-idx3-ubyte"
run eval-no-arguments -- eval
if [ "$RC" -eq 2 ] && [ -s "$T/err" ]; then pass eval-no-arguments; else fail eval-no-arguments "exit $RC, expected 2"; fi
expect_error eval-no-data 2 "--data" -- eval "$MODEL"
expect_error predict-no-input 2 "INPUT" -- predict "$MODEL"
expect_error info-unknown-option 2 "--frob" -- info "$MODEL" --frob

# ---------------------------------------------------------------- CSV tables (csv:FILE[:key=value])

SRC=$(cd "$(dirname "$0")" && pwd)
TAB=$SRC/../models/tabular.json
# the issue's figure: models/tabular.json, 5-fold cross-validated accuracy >= 0.95
for set in wine breast_cancer; do
    run "cv-$set" -- cv "$TAB" --data "csv:$SRC/data/$set.csv" --folds 5 --json --quiet
    json "cv-$set-accuracy" "assert o['folds'] == 5 and o['mean_accuracy'] >= 0.95, o['mean_accuracy']"
done
run train-csv -- train "$TAB" --data "csv:$SRC/data/iris.csv" --test-split 0.2 --epochs 30 --out "$T/iris" --json --quiet
json train-csv-json "assert o['task'] == 'classification' and o['n_train'] == 120 and o['n_test'] == 30 and o['test_accuracy'] > 0.8, o"
head -n 4 "$SRC/data/iris.csv" | awk -F, 'BEGIN { OFS = "," } { print $4, $2, $3, $1 }' >"$T/iris_rows.csv" # reordered, no target
run predict-csv-model -- predict "$T/iris/model.kiln" "$T/iris_rows.csv" --json
json predict-csv-model-json "assert len(o['predictions']) == 3 and o['predictions'][0]['label'] == 'setosa', o"
run eval-csv -- eval "$T/iris/model.kiln" --data "csv:$SRC/data/iris.csv" --json
json eval-csv-json "assert o['n'] == 150 and o['labels'] == ['setosa', 'versicolor', 'virginica'] and o['accuracy'] > 0.8, o"
# kiln convert --to int8 (models/tabular.json: two 64-unit dense layers in int8): the int8
# file predicts what the f32 file does with --int8, bit for bit, and is smaller
run predict-int8-plain -- predict "$T/iris/model.kiln" "$T/iris_rows.csv" --int8 --top 3
cp "$T/out" "$T/pred_int8"
run convert-int8 -- convert "$T/iris/model.kiln" --to int8 "$T/iris8.kiln" --json
if [ "$RC" -ne 0 ]; then fail convert-int8 "exit $RC: $(head -n 1 "$T/err")"; else
    json convert-int8-json "assert o['dtype'] == 'I8' and o['ratio'] < 0.5, o"
    run predict-int8-file -- predict "$T/iris8.kiln" "$T/iris_rows.csv" --top 3
    if [ "$RC" -eq 0 ] && cmp -s "$T/out" "$T/pred_int8"; then pass predict-int8-file
    else fail predict-int8-file "exit $RC or differs from predict --int8 on the f32 file"; fi
    run info-int8 -- info "$T/iris8.kiln" --json
    json info-int8-json "assert o['dtypes'] == ['I8'], o['dtypes']"
fi
# a model with no layer int8 serves (a 4-unit dense layer) is refused, nothing written; a
# quantized ONNX model (its weights ORT's int8 ones) converts
expect_error convert-int8-nothing 1 "no layer of this model runs in int8" -- convert "$SRC/data/onnx/residual.onnx" --to int8 "$T/res8.kiln"
if [ -e "$T/res8.kiln" ]; then fail convert-int8-nothing-file "a file was written"; else pass convert-int8-nothing-file; fi
run convert-int8-quantized-onnx -- convert "$SRC/data/onnx/q_qdq_cnn.onnx" --to int8 "$T/q8.kiln" --json
json convert-int8-quantized-onnx-json "assert o['dtype'] == 'I8', o"
# ... and its 1x1 convolution's int8 weights (per channel, symmetric in the ONNX file) are the
# file's own codes and scales, not a requantization of them
if /usr/bin/python3 - "$SRC" "$T/q8.kiln" >"$T/out" 2>&1 <<'PY'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
sys.path.insert(0, sys.argv[1])
import safetensors_reader
kiln = [t for t in safetensors_reader.read_safetensors(sys.argv[2]) if isinstance(t, dict) and "conv2d_2/kernel" in t][0]
inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(sys.argv[1] + "/data/onnx/q_qdq_cnn.onnx").graph.initializer}
w = next(n for n, a in inits.items() if a.dtype == np.int8 and a.shape == (16, 32, 1, 1))
scale = next(i.input[1] for i in onnx.load(sys.argv[1] + "/data/onnx/q_qdq_cnn.onnx").graph.node if i.input and i.input[0] == w)
assert np.array_equal(kiln["conv2d_2/kernel"], inits[w][:, :, 0, 0].T), "codes differ"
assert np.array_equal(kiln["kiln.scale.conv2d_2/kernel"], inits[scale]), "scales differ"
PY
then pass convert-int8-quantized-onnx-codes; else fail convert-int8-quantized-onnx-codes "$(tail -n 1 "$T/out")"; fi
run info-csv -- info "$T/iris/model.kiln" --json
json info-csv-json "assert o['preprocessing']['features'] == ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'], o"
run train-csv-regression -- train "$TAB" --data "csv:$SRC/data/diabetes.csv" --test-split 0.2 --epochs 100 --json --quiet
json train-csv-regression-json "assert o['task'] == 'regression' and o['test_r2'] > 0.3 and all(k in o for k in ('test_mse', 'test_rmse', 'test_mae')), o"
run cv-csv-regression -- cv "$TAB" --data "csv:$SRC/data/diabetes.csv:scale=minmax" --folds 3 --epochs 5 --json --quiet
json cv-csv-regression-json "assert all('mean_' + k in o for k in ('loss', 'mse', 'mae', 'r2')), o"
expect_error train-csv-bad-key 1 "impute=often" -- train "$TAB" --data "csv:$SRC/data/iris.csv:impute=often"
expect_error train-csv-no-target 1 "target=nope: no such column" -- train "$TAB" --data "csv:$SRC/data/iris.csv:target=nope"
printf 'sepal_length,sepal_width\n1,2\n' >"$T/iris_narrow.csv"
expect_error predict-csv-missing-column 1 "no column 'petal_length'" -- predict "$T/iris/model.kiln" "$T/iris_narrow.csv"
printf 'sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n3e38,3.5,1.4,0.2\n' >"$T/iris_huge.csv"
expect_error predict-csv-overflow 1 "line 3: feature 'sepal_length' is inf" -- predict "$T/iris/model.kiln" "$T/iris_huge.csv"
run train-text -- train '{"type": "logistic_regression"}' --data "csv:$SRC/data/reviews.csv:text=review" --test-split 0.25 --out "$T/rev" --json --quiet
json train-text-json "assert o['params'] > 100 and o['n_train'] == 26, o"
printf 'review\nGreat sound and a great battery\n"Broke after a day, terrible support"\n' >"$T/new_reviews.csv"
run predict-text -- predict "$T/rev/model.kiln" "$T/new_reviews.csv" --json
json predict-text-json "assert [p['label'] for p in o['predictions']] == ['positive', 'negative'], o"
expect_error eval-csv-image-model 1 "not trained from a CSV" -- eval "$MODEL" --data "csv:$SRC/data/iris.csv"
# a 1-D CNN (models/cnn1d.json) over breast_cancer.csv's 30 features read as 30 steps of one
# channel: trains (0.947 held out with the default seed, 0.95 to 0.99 with seeds 1 to 8),
# its file describes its layers back, it predicts from raw rows; without the reshape, one
# line says what the layer needs
CNN1D=$SRC/../models/cnn1d.json
run train-cnn1d -- train "$CNN1D" --data "csv:$SRC/data/breast_cancer.csv" --test-split 0.2 --out "$T/cnn1d" --json --quiet
json train-cnn1d-json "assert o['params'] == 882 and o['test_accuracy'] > 0.9, o"
run info-cnn1d -- info "$T/cnn1d/model.kiln" --json
json info-cnn1d-json "
L = o['architecture']['layers']
assert [l['type'] for l in L] == ['reshape', 'conv1d', 'max_pool1d', 'conv1d', 'global_max_pool1d', 'dense'], L
assert L[1]['padding'] == 'causal' and L[1]['kernel_size'] == [3] and L[3]['dilation_rate'] == [2], L
assert L[2]['pool_size'] == [2] and L[2]['strides'] == [2] and o['params'] == 882, o"
head -n 3 "$SRC/data/breast_cancer.csv" >"$T/bc_rows.csv"
run predict-cnn1d -- predict "$T/cnn1d/model.kiln" "$T/bc_rows.csv" --json
json predict-cnn1d-json "assert len(o['predictions']) == 2 and o['predictions'][0]['label'] in ('benign', 'malignant'), o"
expect_error train-cnn1d-no-reshape 1 "layers[0] conv1d: needs a sequence input (steps, channels), got (30,) (give the model an input_shape such as [30, 1], or reshape to [30, 1])" \
    -- train '{"layers": [{"type": "conv1d", "filters": 4, "kernel_size": 3}, {"type": "dense"}]}' \
    --data "csv:$SRC/data/breast_cancer.csv" --quiet

# ---------------------------------------------------------------- classical models

run train-logreg -- train '{"type": "logistic_regression", "C": 0.5}' --data "csv:$SRC/data/breast_cancer.csv" --test-split 0.2 \
    --out "$T/lr" --json --quiet
json train-logreg-json "assert o['model_type'] == 'logistic_regression' and o['test_accuracy'] > 0.93 and o['params'] == 31 and o['train_seconds'] > 0, o"
expect_error convert-classic 1 "only networks" -- convert "$T/lr/model.kiln" --to fp16 "$T/lr16.kiln"
run eval-logreg -- eval "$T/lr/model.kiln" --data "csv:$SRC/data/breast_cancer.csv" --json
json eval-logreg-json "assert o['n'] == 569 and o['accuracy'] > 0.95 and 0.9 < o['roc_auc'] <= 1 and o['labels'] == ['benign', 'malignant'], o"
# a classifier without probabilities (svm's bare decisions): no log-loss or ROC-AUC from its one-hot rows
run train-svc-decisions -- train '{"type": "svm"}' --data "csv:$SRC/data/breast_cancer.csv" --out "$T/svc" --quiet
run eval-svc -- eval "$T/svc/model.kiln" --data "csv:$SRC/data/breast_cancer.csv" --json
json eval-svc-json "assert o['loss'] is None and 'log_loss' not in o and 'roc_auc' not in o and o['accuracy'] > 0.95, o"
run info-logreg -- info "$T/lr/model.kiln" --json
json info-logreg-json "assert o['model_type'] == 'logistic_regression' and o['architecture']['C'] == 0.5 and o['params'] == 31, o"
run cv-linreg -- cv '{"type": "linear_regression", "alpha": 1}' --data "csv:$SRC/data/diabetes.csv" --folds 5 --json --quiet
json cv-linreg-json "assert o['mean_r2'] > 0.4, o"
run train-forest -- train '{"type": "random_forest", "n_estimators": 30, "oob_score": true}' --data "csv:$SRC/data/wine.csv" --test-split 0.2 --json --quiet
json train-forest-json "assert o['model_type'] == 'random_forest' and 0.9 < o['oob_score'] <= 1 and o['test_accuracy'] > 0.9, o"
run train-knn -- train '{"type": "k_nearest_neighbors", "weights": "distance"}' --data "csv:$SRC/data/wine.csv" --test-split 0.2 \
    --out "$T/knn" --json --quiet
json train-knn-json "assert o['model_type'] == 'k_nearest_neighbors' and o['test_accuracy'] > 0.9 and o['params'] == 142 * 13, o"
run eval-knn -- eval "$T/knn/model.kiln" --data "csv:$SRC/data/wine.csv" --json
# distance weights: each training row is its own only neighbour, so 142 of the 178 are right by construction
json eval-knn-json "assert o['n'] == 178 and o['accuracy'] > 0.95, o"
run cv-knn-regression -- cv '{"type": "k_nearest_neighbors", "n_neighbors": 10, "metric": "manhattan"}' --data "csv:$SRC/data/diabetes.csv" --folds 3 --json --quiet
json cv-knn-regression-json "assert o['mean_r2'] > 0.3, o"
run cv-multinomial-nb-text -- cv '{"type": "multinomial_nb", "alpha": 0.5}' --data "csv:$SRC/data/reviews.csv:text=review" --folds 4 --json --quiet
json cv-multinomial-nb-text-json "assert o['folds'] == 4 and o['mean_accuracy'] > 0.6, o"
expect_error train-multinomial-nb-negative 1 "counts or frequencies" -- train '{"type": "multinomial_nb"}' --data "csv:$SRC/data/wine.csv"
# bernoulli_nb and complement_nb: train, save, eval, predict and info from the CLI (digits'
# pixel counts, scale=none; the formulas are checked against scikit-learn in test_naive_bayes)
run train-bernoulli-nb -- train '{"type": "bernoulli_nb", "binarize": 4}' --data "csv:$SRC/data/digits.csv:scale=none" --test-split 0.2 \
    --out "$T/bnb" --json --quiet
json train-bernoulli-nb-json "assert o['model_type'] == 'bernoulli_nb' and o['test_accuracy'] > 0.8 and o['params'] == 10 * 60 + 10, o"
run eval-bernoulli-nb -- eval "$T/bnb/model.kiln" --data "csv:$SRC/data/digits.csv" --json
json eval-bernoulli-nb-json "assert o['n'] == 1797 and o['accuracy'] > 0.8 and 0 < o['loss'] < 1, o"
run predict-bernoulli-nb -- predict "$T/bnb/model.kiln" "$SRC/data/digits.csv" --top 2 --json
json predict-bernoulli-nb-json "p = o['predictions']; assert len(p) == 1797 and p[0]['label'] == '0' and p[0]['top'][0]['probability'] >= p[0]['top'][1]['probability'], p[0]"
run info-bernoulli-nb -- info "$T/bnb/model.kiln" --json
json info-bernoulli-nb-json "a = o['architecture']; assert o['model_type'] == 'bernoulli_nb' and a['binarize'] == 4 and a['force_alpha'] is False and a['class_prior'] is None, o"
run train-complement-nb -- train '{"type": "complement_nb", "norm": true}' --data "csv:$SRC/data/digits.csv:scale=none" --test-split 0.2 \
    --out "$T/cnb" --json --quiet
json train-complement-nb-json "assert o['model_type'] == 'complement_nb' and o['test_accuracy'] > 0.6, o"
run info-complement-nb -- info "$T/cnb/model.kiln" --json
json info-complement-nb-json "assert o['architecture']['norm'] is True and o['params'] == 10 * 60 + 10, o"
run cv-complement-nb-text -- cv '{"type": "complement_nb"}' --data "csv:$SRC/data/reviews.csv:text=review" --folds 4 --json --quiet
json cv-complement-nb-text-json "assert o['folds'] == 4 and o['mean_accuracy'] > 0.6, o"
expect_error train-complement-nb-negative 1 "complement_nb: row 0, feature 1 is" -- train '{"type": "complement_nb"}' --data "csv:$SRC/data/wine.csv"
expect_error train-bernoulli-nb-bad-binarize 1 "bernoulli_nb.binarize: -1 must be >= 0" -- train '{"type": "bernoulli_nb", "binarize": -1}' \
    --data "csv:$SRC/data/iris.csv"
run train-lasso -- train '{"type": "lasso", "alpha": 0.1}' --data "csv:$SRC/data/diabetes.csv" --test-split 0.2 --json --quiet
json train-lasso-json "assert o['model_type'] == 'lasso' and o['test_r2'] > 0.3 and o['iterations'] > 1, o"
# grid search: every combination on the same folds, the best by mean accuracy, its description
run cv-grid -- cv '{"type": "svm"}' --data "csv:$SRC/data/wine.csv" --folds 3 --grid '{"C": [0.1, 10], "kernel": ["rbf", "linear"]}' --json --quiet
json cv-grid-json "g = o['grid']; assert len(g) == 4 and [p['params'] for p in g][1] == {'C': 0.1, 'kernel': 'linear'} and o['best_params'] == g[o['best_index']]['params'] and o['mean_accuracy'] == max(p['mean_accuracy'] for p in g) and o['best_spec']['type'] == 'svm' and o['best_spec']['C'] == o['best_params']['C'], o"
run cv-grid-network -- cv "$TAB" --data "csv:$SRC/data/iris.csv" --folds 2 --epochs 2 --grid '{"optimizer.learning_rate": [0.001, 0.01], "layers.0.units": [4]}' --json --quiet
json cv-grid-network-json "s = o['best_spec']; assert len(o['grid']) == 2 and s['layers'][0]['units'] == 4 and s['optimizer']['learning_rate'] in (0.001, 0.01), o"
# --targets inputs: the rows their own targets (an autoencoder, a regression of every pixel;
# the last layer's units left to the data: 64), trained, saved, evaluated and predicted
AE='{"layers": [{"type": "dense", "units": 16, "activation": "relu"}, {"type": "dense"}], "epochs": 15}'
run train-autoencoder -- train "$AE" --data "csv:$SRC/data/digits.csv:constant=keep:scale=minmax" --targets inputs \
    --test-split 0.2 --out "$T/ae" --json --quiet
json train-autoencoder-json "assert o['task'] == 'regression' and o['params'] == 64 * 16 + 16 + 16 * 64 + 64 and o['test_mse'] < 0.04 and o['test_r2'] > 0.1, o"
run eval-autoencoder -- eval "$T/ae/model.kiln" --data "csv:$SRC/data/digits.csv" --targets inputs --json
json eval-autoencoder-json "assert o['n'] == 1797 and o['mse'] < 0.04, o"
run predict-autoencoder -- predict "$T/ae/model.kiln" "$SRC/data/digits.csv" --json
json predict-autoencoder-json "p = o['predictions']; assert len(p) == 1797 and len(p[0]['values']) == 64 and 'label' not in p[0], p[0]"
# kiln cv --targets inputs: each fold scored as a regression of every pixel, then refit
run cv-autoencoder -- cv "$AE" --data "csv:$SRC/data/digits.csv:constant=keep:scale=minmax" --targets inputs --folds 2 \
    --out "$T/cvae" --json --quiet
json cv-autoencoder-json "assert o['folds'] == 2 and len(o['per_fold']) == 2 and 0 < o['mean_mse'] < 0.04 and 'mean_accuracy' not in o and 'r2' in o['per_fold'][0] and o['n_refit'] == 1797, o"
expect_error usage-cv-targets 2 "--targets expects labels or inputs, got 'pixels'" -- cv "$AE" --data "csv:$SRC/data/digits.csv" --targets pixels
expect_error train-autoencoder-shift 1 "shift, flip and rotate move the inputs but not the targets" -- train "$AE" \
    --data "idx:$DATA" --targets inputs --augment '{"shift": 1}'
expect_error usage-targets 2 "--targets expects labels or inputs, got 'pixels'" -- train "$AE" --data "csv:$SRC/data/digits.csv" --targets pixels
# constant=keep: the features constant on the training rows stay (digits' blank border), so
# the 64 pixels reshape to an 8x8 image; dropped (the default), the reshape is refused
CNN8='{"layers": [{"type": "reshape", "target_shape": [8, 8, 1]}, {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"}, {"type": "flatten"}, {"type": "dense"}], "epochs": 2}'
run csv-constant-keep -- train "$CNN8" --data "csv:$SRC/data/digits.csv:constant=keep:scale=minmax" --test-split 0.2 --json --quiet
json csv-constant-keep-json "assert o['params'] == 4 * 9 + 4 + 256 * 10 + 10 and o['test_accuracy'] > 0.5, o"
expect_error csv-constant-dropped 1 "target_shape has 64 values, its input 61" -- train "$CNN8" --data "csv:$SRC/data/digits.csv" --quiet
expect_error csv-constant-bad 1 "constant=maybe: expected drop or keep" -- train "$CNN8" --data "csv:$SRC/data/digits.csv:constant=maybe" --quiet

# refit (--out): the best description trained on all the rows, preprocessing included, saved
run cv-grid-refit -- cv '{"type": "logistic_regression"}' --data "csv:$SRC/data/iris.csv" --folds 3 --grid '{"C": [0.01, 10]}' --out "$T/refit" --json --quiet
json cv-grid-refit-json "assert o['model'].endswith('refit/model.kiln') and o['n_refit'] == 150 and o['best_params'] == {'C': 10}, o"
run cv-refit-info -- info "$T/refit/model.kiln" --json
json cv-refit-info-json "assert o['architecture']['C'] == 10 and o['preprocessing']['report'].find('fitted on 150 rows') >= 0, o"
run cv-refit-plain -- cv "$TAB" --data "csv:$SRC/data/iris.csv" --folds 2 --epochs 2 --out "$T/refit2" --json --quiet
json cv-refit-plain-json "assert o['n_refit'] == 150 and len(o['per_fold']) == 2 and o['model'].endswith('refit2/model.kiln'), o"
run cv-refit-eval -- eval "$T/refit2/model.kiln" --data "csv:$SRC/data/iris.csv" --json --quiet
# --scoring: what the grid ranks by; lower is better for loss, mse, mae
run cv-grid-scoring -- cv '{"type": "linear_regression"}' --data "csv:$SRC/data/diabetes.csv" --folds 3 --grid '{"alpha": [0.01, 1, 100]}' --scoring mse --json --quiet
json cv-grid-scoring-json "g = o['grid']; assert o['scoring'] == 'mse' and o['mean_mse'] == min(p['mean_mse'] for p in g) and o['best_params'] == g[o['best_index']]['params'], o"
expect_error cv-scoring-no-grid 2 "--scoring ranks a --grid" -- cv '{"type": "svm"}' --data "csv:$SRC/data/iris.csv" --scoring loss
expect_error cv-scoring-unknown 2 "unknown metric 'lol'" -- cv '{"type": "svm"}' --data "csv:$SRC/data/iris.csv" --grid '{"C": [1]}' --scoring lol
expect_error cv-scoring-wrong-task 2 "not a classification metric" -- cv '{"type": "svm"}' --data "csv:$SRC/data/iris.csv" --folds 2 --grid '{"C": [1]}' --scoring r2
expect_error cv-scoring-no-loss 1 "no combination has a loss" -- cv '{"type": "svm"}' --data "csv:$SRC/data/iris.csv" --folds 2 --grid '{"C": [1]}' --scoring loss
expect_error cv-grid-bad-path 2 "layers.9.units" -- cv "$TAB" --data "csv:$SRC/data/iris.csv" --grid '{"layers.9.units": [8]}'
expect_error cv-grid-not-list 2 "'C' must be a non-empty list" -- cv '{"type": "svm"}' --data "csv:$SRC/data/iris.csv" --grid '{"C": 5}'
expect_error cv-grid-unknown-key 1 "svm.Cee" -- cv '{"type": "svm"}' --data "csv:$SRC/data/iris.csv" --grid '{"Cee": [5]}'
expect_error train-knn-bad-metric 1 "k_nearest_neighbors.metric" -- train '{"type": "k_nearest_neighbors", "metric": "cosine"}' --data "csv:$SRC/data/iris.csv"
run train-hgb -- train '{"type": "hist_gradient_boosting", "max_iter": 40}' --data "csv:$SRC/data/wine.csv" --test-split 0.2 --json --quiet --out "$T/hgb"
json train-hgb-json "assert o['model_type'] == 'hist_gradient_boosting' and o['iterations'] == 40 and o['test_accuracy'] > 0.9, o"
run info-hgb -- info "$T/hgb/model.kiln" --json
json info-hgb-json "assert o['architecture']['max_iter'] == 40 and o['architecture']['loss'] == 'log_loss' and o['training']['iterations'] == 40, o"
run predict-hgb -- predict "$T/hgb/model.kiln" "$SRC/data/wine.csv" --json
json predict-hgb-json "p = o['predictions']; assert len(p) == 178 and p[0]['label'] == '0' and p[0]['probability'] > 0.9, p[0]"
run cv-hgb -- cv '{"type": "hist_gradient_boosting", "loss": "absolute_error", "max_iter": 30}' --data "csv:$SRC/data/diabetes.csv" --folds 3 --json --quiet
json cv-hgb-json "assert o['folds'] == 3 and o['mean_r2'] > 0.2, o"
expect_error train-hgb-bad-rate 1 "hist_gradient_boosting.learning_rate: -1 must be > 0" -- train '{"type": "hist_gradient_boosting", "learning_rate": -1}' --data "csv:$SRC/data/iris.csv"
expect_error train-hgb-wrong-loss 1 "hist_gradient_boosting.loss: log_loss is for classification" -- train '{"type": "hist_gradient_boosting", "loss": "log_loss"}' --data "csv:$SRC/data/diabetes.csv"
expect_error train-logreg-bad-c 1 "logistic_regression.C" -- train '{"type": "logistic_regression", "C": 0}' --data "csv:$SRC/data/iris.csv"
expect_error train-linreg-on-classes 1 "class labels" -- train '{"type": "linear_regression"}' --data "csv:$SRC/data/iris.csv"

# the model types train --help lists are the registry's (its error for an unknown type lists them)
run type-list -- train '{"type": "knn"}' --data "csv:$SRC/data/iris.csv"
TYPES=$(sed -n 's/.*(expected \(.*\)).*/\1/p' "$T/err" | tr -d ',')
run help-train-types -- train --help
MISSING=
for t in $TYPES; do grep -qw -- "$t" "$T/out" || MISSING="$MISSING $t"; done
if [ -n "$TYPES" ] && [ -z "$MISSING" ]; then pass help-train-types; else fail help-train-types "not in train --help:${MISSING:- (no type list in the error)}"; fi

for cmd in graph cv eval predict info convert train; do
    run "help-$cmd" -- "$cmd" --help
    if [ "$RC" -eq 0 ] && [ ! -s "$T/err" ] && grep -q -- '--threads' "$T/out"; then pass "help-$cmd"
    else fail "help-$cmd" "exit $RC, or no --threads in the help"; fi
done
if grep -q -- '--out DIR' "$T/out"; then pass help-train-out; else fail help-train-out "train --help lacks --out DIR"; fi
# every option that takes a value says its default (or that it is required), INTERFACE.md:
# an entry runs from its "  --name VALUE" line to the next option or blank line
for cmd in graph cv eval predict info convert train; do
    run "help-defaults-$cmd" -- "$cmd" --help
    missing=$(awk '
        function check() { if (opt != "" && entry !~ /default|required/) print opt; opt = "" }
        /^  --[a-z-]+ [A-Z]/ { check(); opt = $1; entry = $0; next }
        /^  --/ || /^$/ { check(); next }
        opt != "" { entry = entry " " $0 }
        END { check() }' "$T/out" | tr '\n' ' ')
    if [ "$RC" -eq 0 ] && [ -z "$missing" ]; then pass "help-defaults-$cmd"
    else fail "help-defaults-$cmd" "exit $RC; options without a default: $missing"; fi
done

# cv trains each fold with the description's class_weight list, as train does
CW_SPEC='{"layers": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dense"}], "batch_size": 16'
run cv-plain -- cv "$CW_SPEC}" --data "csv:$SRC/data/iris.csv" --folds 2 --epochs 2 --json --quiet
plain=$(tail -n 1 "$T/out")
run cv-class-weight-list -- cv "$CW_SPEC, \"class_weight\": [1, 50, 1]}" --data "csv:$SRC/data/iris.csv" --folds 2 --epochs 2 --json --quiet
if [ "$RC" -eq 0 ] && [ -n "$plain" ] && [ "$(tail -n 1 "$T/out")" != "$plain" ]; then pass cv-class-weight-list
else fail cv-class-weight-list "exit $RC, or the weights changed nothing"; fi

# fashion-mnist: $KILN_DATA/fashion-mnist when that folder exists, else /usr/share/datasets
mkdir -p "$T/kiln_data" "$T/kiln_data_empty"
ln -s "$DATA" "$T/kiln_data/fashion-mnist"
KILN_DATA="$T/kiln_data" run kiln-data -- train "$SPEC" --data fashion-mnist --epochs 1 --json --quiet
json kiln-data-json "assert o['n_train'] == 8 and o['n_test'] == 3, o"
if [ -d /usr/share/datasets/fashion-mnist ]; then
    KILN_DATA="$T/kiln_data_empty" run kiln-data-fallback -- graph '{"layers": [{"type": "dense"}]}' --data fashion-mnist --json --quiet
    json kiln-data-fallback-json "assert (784 * 10 + 10) * 4 <= o['param_bytes'] < (784 * 10 + 10) * 4 + 256, o"  # 784 inputs: the data's
else
    echo "SKIP kiln-data-fallback: no /usr/share/datasets/fashion-mnist"
fi
[ -d /usr/share/datasets/mnist ] ||
    KILN_DATA="$T/kiln_data_empty" expect_error kiln-data-mnist 1 "$T/kiln_data_empty/mnist or /usr/share/datasets/mnist" -- \
        train "$SPEC" --data mnist

# a non-sequential model (models/resnet_digits.json: a residual add and a concatenated
# branch off the input) on digits.csv: trains (0.969 held out with the default seed), its
# file keeps each layer's name and inputs, which info shows; a merge of unequal shapes and an
# unknown input are one line each
RESNET=$SRC/../models/resnet_digits.json
run train-resnet -- train "$RESNET" --data "csv:$SRC/data/digits.csv" --test-split 0.2 --out "$T/resnet" --json --quiet
json train-resnet-json "assert o['params'] == 15146 and o['test_accuracy'] > 0.93, o"
run info-resnet -- info "$T/resnet/model.kiln" --json
json info-resnet-json "
L = o['architecture']['layers']
assert [l['type'] for l in L] == ['dense', 'dense', 'dense', 'add', 'activation', 'dense', 'concatenate', 'dropout', 'dense'], L
assert L[3]['inputs'] == ['dense_2', 'stem'] and L[5]['inputs'] == 'input' and L[6]['name'] == 'joined', L
assert 'inputs' not in L[1] and L[1]['name'] == 'dense_1', L"
run info-resnet-text -- info "$T/resnet/model.kiln"
if grep -q 'add(name=block1, inputs=\["dense_2","stem"\])' "$T/out" && grep -q 'dense(32, relu, name=wide, inputs=input)' "$T/out"; then
    pass info-resnet-text-inputs
else
    fail info-resnet-text-inputs "$(grep '^layers' "$T/out")"
fi
head -n 3 "$SRC/data/digits.csv" >"$T/digit_rows.csv"
run predict-resnet -- predict "$T/resnet/model.kiln" "$T/digit_rows.csv" --json
json predict-resnet-json "assert len(o['predictions']) == 2, o"
expect_error train-merge-shapes 1 "layers[1] add: inputs 'dense_0' (8,) and 'input' (" \
    -- train '{"layers": [{"type": "dense", "units": 8}, {"type": "add", "inputs": ["dense_0", "input"]}, {"type": "dense"}]}' \
    --data "csv:$SRC/data/digits.csv" --quiet
expect_error train-unknown-input 1 "layers[1].inputs: no earlier layer is named 'dense_9'" \
    -- train '{"layers": [{"type": "dense", "units": 8}, {"type": "dense", "inputs": "dense_9"}]}' \
    --data "csv:$SRC/data/digits.csv" --quiet

# token sequences through an embedding (models/embedding_tokens.json on tokens.csv, read with
# scale=none so the indices stay whole numbers): trains (1.0 held out with seeds 0 to 3), info
# shows the layer, predict takes new rows; an index past the vocabulary, the CSV scaled, and an
# embedding after another layer are one line each, naming the row and column or the layer
EMB=$SRC/../models/embedding_tokens.json
run train-embedding -- train "$EMB" --data "csv:$SRC/data/tokens.csv:scale=none" --test-split 0.2 --out "$T/emb" --json --quiet
json train-embedding-json "assert o['params'] == 658 and o['test_accuracy'] > 0.95, o"
run info-embedding -- info "$T/emb/model.kiln"
if grep -q '^layers *embedding(input_dim=60, output_dim=8) -> global_average_pool1d() -> dense(16, relu)' "$T/out"; then
    pass info-embedding-text
else
    fail info-embedding-text "$(grep '^layers' "$T/out")"
fi
{
    head -n 1 "$SRC/data/tokens.csv" | cut -d, -f1-20
    echo "3,2,1,14,15,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
    echo "7,8,9,14,15,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0"
} >"$T/tokens_new.csv"
run predict-embedding -- predict "$T/emb/model.kiln" "$T/tokens_new.csv" --json
json predict-embedding-json "assert [p['label'] for p in o['predictions']] == ['positive', 'negative'], o"
sed '3s/,0$/,60/' "$T/tokens_new.csv" >"$T/tokens_bad.csv"
expect_error predict-embedding-bad-index 1 "input: row 1, column 19 'w19': token index 60 is not below input_dim" \
    -- predict "$T/emb/model.kiln" "$T/tokens_bad.csv"
expect_error train-embedding-scaled 1 "data: row 0, column 0 'w0': token index" \
    -- train "$EMB" --data "csv:$SRC/data/tokens.csv" --epochs 1 --quiet
expect_error train-embedding-not-first 1 "layers[1] embedding: reads token indices from the model input, but its input is layers[0] dense 'dense_0'" \
    -- train '{"layers": [{"type": "dense", "units": 4}, {"type": "embedding", "input_dim": 60, "output_dim": 4}, {"type": "dense"}]}' \
    --data "csv:$SRC/data/tokens.csv:scale=none" --quiet

# the same tokens through a bidirectional LSTM (models/lstm_tokens.json): trains, and the saved
# model predicts the new rows as the embedding model does
run train-lstm-tokens -- train "$SRC/../models/lstm_tokens.json" --data "csv:$SRC/data/tokens.csv:scale=none" \
    --test-split 0.2 --out "$T/lstm" --json --quiet
json train-lstm-tokens-json "assert o['test_accuracy'] > 0.95, o"
run export-lstm -- export "$T/lstm/model.kiln" "$T/lstm.onnx" --json
json export-lstm-json "assert o['params'] > 0 and o['bytes'] > 4 * o['params'], o"
run predict-lstm-tokens -- predict "$T/lstm/model.kiln" "$T/tokens_new.csv" --json
json predict-lstm-tokens-json "assert [p['label'] for p in o['predictions']] == ['positive', 'negative'], o"
# its export begins with its CSV preprocessing (raw columns in), which kiln import refuses;
# the network alone read back (embedding, bidirectional LSTM): the same labels, class names kept
expect_error import-prep-onnx 1 "kiln model's CSV preprocessing" -- import "$T/lstm.onnx" "$T/r.kiln"
run export-lstm-net -- export "$T/lstm/model.kiln" "$T/lstm_net.onnx" --network-only --quiet
run predict-lstm-onnx -- predict "$T/lstm_net.onnx" "$T/tokens_new.csv" --json
json predict-lstm-onnx-json "assert [p['label'] for p in o['predictions']] == ['positive', 'negative'], o"
# free text as token ids (sequence=, Keras's TextVectorization(output_mode="int")) through an
# embedding (models/embedding_text.json on text_reviews.csv, make_text_reviews.py): trains
# (held-out accuracy 0.975 with the default seed, 0.98 to 1.0 on seeds 0 to 3), info shows the sequence block, predict reads
# raw text, eval reads a CSV through the stored vocabulary; the README's command on
# reviews.csv; a bad value, a missing column, a column both text= and sequence= and a
# vocabulary past input_dim are one line each
EMBT=$SRC/../models/embedding_text.json
SEQ="csv:$SRC/data/text_reviews.csv:sequence=review:sequence_length=24:max_tokens=1000"
run train-sequence -- train "$EMBT" --data "$SEQ" --test-split 0.2 --out "$T/seq" --json --quiet
json train-sequence-json "assert o['n_train'] == 480 and o['test_accuracy'] > 0.9, o"
run info-sequence -- info "$T/seq/model.kiln"
if grep -q "sequence 'review': 24 token ids per row, vocabulary" "$T/out" && grep -q 'review\[23\]' "$T/out"; then
    pass info-sequence-text
else
    fail info-sequence-text "$(grep -i 'sequence\|inputs' "$T/out" | head -3)"
fi
printf 'review\n"The battery works great, the screen is excellent!"\n"It broke quickly and the lid is awful"\n' >"$T/seq_new.csv"
run predict-sequence -- predict "$T/seq/model.kiln" "$T/seq_new.csv" --json
json predict-sequence-json "assert [p['label'] for p in o['predictions']] == ['positive', 'negative'], o"
run eval-sequence -- eval "$T/seq/model.kiln" --data "csv:$SRC/data/text_reviews.csv" --json
json eval-sequence-json "assert o['n'] == 600 and o['accuracy'] > 0.9, o"
run train-sequence-reviews -- train '{"layers": [{"type": "embedding", "input_dim": 20000, "output_dim": 8}, {"type": "global_average_pool1d"}, {"type": "dense"}]}' \
    --data "csv:$SRC/data/reviews.csv:sequence=review:sequence_length=20" --epochs 2 --json --quiet
json train-sequence-reviews-json "assert o['params'] == 20000 * 8 + 8 * 2 + 2, o"
expect_error train-sequence-bad-length 1 "sequence_length=ten: expected a whole number of token ids per row" \
    -- train "$EMBT" --data "csv:$SRC/data/reviews.csv:sequence=review:sequence_length=ten" --quiet
expect_error train-sequence-no-column 1 "sequence=text: no such column" -- train "$EMBT" --data "csv:$SRC/data/reviews.csv:sequence=text" --quiet
expect_error train-sequence-and-text 1 "column 'review' is both text= and sequence=" \
    -- train "$EMBT" --data "csv:$SRC/data/reviews.csv:text=review:sequence=review" --quiet
expect_error train-sequence-input-dim 1 "'review[0]': token index" \
    -- train '{"layers": [{"type": "embedding", "input_dim": 3, "output_dim": 4}, {"type": "global_average_pool1d"}, {"type": "dense"}]}' \
    --data "csv:$SRC/data/reviews.csv:sequence=review:sequence_length=5" --epochs 1 --quiet

# the same text through an attention encoder block (models/transformer_text.json: embedding
# with mask_zero, position_embedding, multi_head_attention, residual + layer_normalization,
# the mean over the words, padding masked throughout): trains (held out 0.983 to 1.0 on seeds
# 0 to 3), info names the attention and shows the mask, predict reads raw text;
# an attention layer given a flat input is one line
run train-transformer-text -- train "$SRC/../models/transformer_text.json" --data "$SEQ" --test-split 0.2 \
    --out "$T/tt" --json --quiet
json train-transformer-text-json "assert o['test_accuracy'] > 0.9, o"
run info-transformer-text -- info "$T/tt/model.kiln"
if grep -q "multi_head_attention(name=attention, num_heads=2, key_dim=16" "$T/out" && grep -q "mask_zero=true" "$T/out"; then
    pass info-transformer-text-layers
else
    fail info-transformer-text-layers "$(grep -i 'layers' "$T/out" | head -2)"
fi
expect_error export-transformer-text 1 "column 'review' is sequence" -- export "$T/tt/model.kiln" "$T/tt.onnx"
expect_error export-transformer 1 "(embedding): mask_zero" -- export "$T/tt/model.kiln" "$T/tt.onnx" --network-only
run predict-transformer-text -- predict "$T/tt/model.kiln" "$T/seq_new.csv" --json
json predict-transformer-text-json "assert [p['label'] for p in o['predictions']] == ['positive', 'negative'], o"
expect_error train-attention-flat 1 "layers[0] multi_head_attention: its query must be a sequence (steps, channels), got 1 dimension" \
    -- train '{"layers": [{"type": "multi_head_attention", "num_heads": 2, "key_dim": 4}, {"type": "dense"}]}' \
    --data "csv:$SRC/data/wine.csv" --quiet

echo "cli_commands: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
