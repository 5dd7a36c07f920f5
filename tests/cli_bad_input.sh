#!/usr/bin/env bash
# cli_bad_input.sh — the kiln CLI on bad input: every bad spec, bad data file and bad
# option must give the documented exit code (1 runtime error, 2 usage error), exactly one
# line on stderr naming the file, field or shape at fault, no crash, and no files left
# behind. Ends with a tiny valid training run.
#
# usage: tests/cli_bad_input.sh PATH/TO/kiln
# Prints one line per case (PASS/FAIL/SKIP name: reason); exits 1 if any case failed.
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 PATH/TO/kiln" >&2
    exit 2
fi
KILN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

T=$(mktemp -d "${TMPDIR:-/tmp}/kiln_bad_input.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
CAP=$T/.cap            # captured stdout/stderr, outside the watched folders
WORK=$T/work           # every command runs in here: it must stay empty
mkdir -p "$CAP" "$WORK"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=
TIMEOUT=
command -v timeout >/dev/null 2>&1 && TIMEOUT="timeout 20"
VALGRIND=
command -v valgrind >/dev/null 2>&1 && VALGRIND="valgrind --suppressions=$(cd "$(dirname "$0")" && pwd)/valgrind.supp"
# An ASan build cannot run under valgrind (and checks the same things itself).
[ -n "$VALGRIND" ] && grep -q __asan_init "$KILN" 2>/dev/null && VALGRIND=
# Few threads: quick, and quieter under valgrind.
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1

FAILS=0 PASSES=0
pass() { PASSES=$((PASSES + 1)); echo "PASS $1"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL $1: $2"; }

# ---------------------------------------------------------------- building inputs

# bytes V... : writes each value (0..255) as one byte.
# shellcheck disable=SC2059 # the format is the bytes themselves, as octal escapes
bytes() { [ $# -gt 0 ] && printf "$(printf '\\%03o' "$@")"; }
# be32 N : N as a big-endian u32.
be32() { bytes $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }

# images FILE N [MAGIC3] : N 4x4 u8 images; MAGIC3 is the third magic byte (8 = u8).
images() {
    local f=$1 n=$2 m=${3:-8} i p
    {
        bytes 0 0 "$m" 3; be32 "$n"; be32 4; be32 4
        for ((i = 0; i < n; i++)); do
            local px=()
            for ((p = 0; p < 16; p++)); do px+=($(((i * 37 + p * 11 + (i % 3) * 60) % 256))); done
            bytes "${px[@]}"
        done
    } >"$f"
}
# labels FILE L... : a labels file with the given labels.
labels() {
    local f=$1
    shift
    { bytes 0 0 8 1; be32 $#; bytes "$@"; } >"$f"
}
# dataset DIR [NTRAIN] : a valid idx:DIR folder, 8 train images (labels 0..2) and a t10k pair.
dataset() {
    mkdir -p "$1"
    images "$1/train-images-idx3-ubyte" 8
    labels "$1/train-labels-idx1-ubyte" 0 1 2 0 1 2 0 1
    images "$1/t10k-images-idx3-ubyte" 3
    labels "$1/t10k-labels-idx1-ubyte" 2 1 0
}

GOOD=$T/good
dataset "$GOOD"

SPEC_TEXT='{"type": "sequential", "input_shape": [16],
  "layers": [{"type": "dense", "units": 8, "activation": "relu"},
             {"type": "dense", "activation": "softmax"}],
  "loss": "sparse_categorical_crossentropy",
  "optimizer": {"type": "adam", "learning_rate": 0.01},
  "batch_size": 4, "epochs": 1}'
SPEC=$T/spec.json
printf '%s\n' "$SPEC_TEXT" >"$SPEC"
# spec NAME SED-EXPR : a copy of the good spec with one edit; prints its path.
spec() { printf '%s\n' "$SPEC_TEXT" | sed "$2" >"$T/$1.json"; echo "$T/$1.json"; }

# ---------------------------------------------------------------- the check

# check NAME RC FRAGMENTS -- kiln args...
#   RC: the expected exit code. FRAGMENTS: '|'-separated strings that must all appear in
#   stderr (empty: no requirement). A NAME ending in '*' may print several stderr lines
#   (the full usage text); every other case must print exactly one.
check() {
    local name=$1 want=$2 frags=$3
    shift 4
    local multi=0
    case $name in *'*') multi=1; name=${name%'*'} ;; esac
    local before after rc lines
    rm -rf "$WORK" && mkdir "$WORK"
    before=$(cd "$T" && find . -path ./.cap -prune -o -print | LC_ALL=C sort)
    (cd "$WORK" && $TIMEOUT "$KILN" "$@" >"$CAP/out" 2>"$CAP/err")
    rc=$?
    after=$(cd "$T" && find . -path ./.cap -prune -o -print | LC_ALL=C sort)
    local err
    err=$(cat "$CAP/err")
    lines=$(wc -l <"$CAP/err")
    # a last line without a newline still counts
    [ -s "$CAP/err" ] && [ "$(tail -c 1 "$CAP/err" | od -An -c | tr -d ' ')" != '\n' ] && lines=$((lines + 1))
    local first
    first=$(head -n 1 "$CAP/err")
    if [ "$rc" -eq 124 ] && [ -n "$TIMEOUT" ]; then fail "$name" "timed out"; return; fi
    if [ "$rc" -ge 128 ]; then fail "$name" "crashed (exit $rc, signal $((rc - 128))): $first"; return; fi
    if grep -qE 'Sanitizer|runtime error:' "$CAP/err"; then
        fail "$name" "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error:' "$CAP/err")"
        return
    fi
    if [ "$rc" -ne "$want" ]; then fail "$name" "exit $rc, expected $want; stderr: $first"; return; fi
    if [ "$multi" -eq 0 ] && [ "$lines" -ne 1 ]; then
        fail "$name" "stderr has $lines lines, expected 1: $(printf '%s' "$err" | tr '\n' '|' | cut -c1-200)"
        return
    fi
    if [ "$multi" -eq 1 ] && [ "$lines" -lt 1 ]; then fail "$name" "nothing on stderr"; return; fi
    local f IFS='|'
    for f in $frags; do
        if [[ $err != *"$f"* ]]; then fail "$name" "stderr lacks '$f': $first"; return; fi
    done
    unset IFS
    if [ "$before" != "$after" ]; then
        fail "$name" "files left behind or removed: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | tr '\n' ' ')"
        return
    fi
    pass "$name"
}

# vcheck NAME RC -- kiln args... : under valgrind, no definite leaks and no memory errors.
vcheck() {
    local name=$1 want=$2
    shift 3
    [ -n "$VALGRIND" ] || return 0
    ( (cd "$WORK" && $VALGRIND --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 -q \
        "$KILN" "$@" >"$CAP/out" 2>"$CAP/err") ) 2>/dev/null
    local rc=$?
    if [ "$rc" -eq 132 ] && grep -q 'Illegal opcode\|unhandled instruction' "$CAP/err"; then
        # valgrind decodes no AVX-512: a -march=native build on such a CPU cannot run under it
        echo "SKIP $name: valgrind cannot decode this build's instructions (configure with -DKILN_NATIVE=OFF)"
    elif [ "$rc" -eq 99 ]; then
        fail "$name" "valgrind: $(grep -m1 -E '(definitely lost|Invalid|uninitialised|Mismatched)' "$CAP/err" || head -n1 "$CAP/err")"
    elif [ "$rc" -ne "$want" ]; then
        fail "$name" "exit $rc under valgrind, expected $want: $(head -n1 "$CAP/err")"
    else
        pass "$name"
    fi
}

# ---------------------------------------------------------------- 1-2: missing files

check spec-missing 1 "/nonexistent.json" -- train /nonexistent.json --data "idx:$GOOD"
check data-folder-missing 1 "/nonexistent" -- train "$SPEC" --data idx:/nonexistent/kiln
mkdir -p "$T/nolabels"
images "$T/nolabels/train-images-idx3-ubyte" 8
check labels-file-missing 1 "train-labels-idx1-ubyte" -- train "$SPEC" --data "idx:$T/nolabels"
mkdir -p "$T/specdir"
check spec-is-a-directory 1 "specdir" -- train "$T/specdir" --data "idx:$GOOD"
check data-source-unknown 1 "frobdata" -- train "$SPEC" --data frobdata

# ---------------------------------------------------------------- 3-6: bad IDX files

D=$T/trunc
dataset "$D"
head -c 100 "$GOOD/train-images-idx3-ubyte" >"$D/train-images-idx3-ubyte" # header 16 + 84 of 128
check idx-truncated 1 "train-images-idx3-ubyte|truncated" -- train "$SPEC" --data "idx:$D"
vcheck idx-truncated-valgrind 1 -- train "$SPEC" --data "idx:$D"

D=$T/trunchdr
dataset "$D"
head -c 10 "$GOOD/train-images-idx3-ubyte" >"$D/train-images-idx3-ubyte"
check idx-truncated-header 1 "train-images-idx3-ubyte|truncated" -- train "$SPEC" --data "idx:$D"

D=$T/empty
dataset "$D"
: >"$D/train-images-idx3-ubyte"
check idx-empty-file 1 "train-images-idx3-ubyte|truncated" -- train "$SPEC" --data "idx:$D"

D=$T/magic
dataset "$D"
{ bytes 0x12 0x34 8 3; tail -c +5 "$GOOD/train-images-idx3-ubyte"; } >"$D/train-images-idx3-ubyte"
check idx-bad-magic 1 "train-images-idx3-ubyte|magic" -- train "$SPEC" --data "idx:$D"

D=$T/dtype
dataset "$D"
images "$D/train-images-idx3-ubyte" 8 13 # f32 type code: not supported
check idx-unsupported-dtype 1 "train-images-idx3-ubyte|0x0d" -- train "$SPEC" --data "idx:$D"

D=$T/swapped
dataset "$D"
cp "$GOOD/train-images-idx3-ubyte" "$D/train-labels-idx1-ubyte"
check idx-labels-is-images 1 "train-labels-idx1-ubyte" -- train "$SPEC" --data "idx:$D"

D=$T/count
dataset "$D"
images "$D/train-images-idx3-ubyte" 5
labels "$D/train-labels-idx1-ubyte" 0 1 2 0
check idx-count-mismatch 1 "train-labels-idx1-ubyte|4 labels|5 images" -- train "$SPEC" --data "idx:$D"

D=$T/t10kcount
dataset "$D"
labels "$D/t10k-labels-idx1-ubyte" 0 1
check idx-t10k-count-mismatch 1 "t10k-labels-idx1-ubyte" -- train "$SPEC" --data "idx:$D"

# gz FILE : FILE.gz in its place (no stored name, so the deflate data starts at byte 10).
gz() { gzip -9 -n -c <"$1" >"$1.gz" && rm -f "$1"; }
if command -v gzip >/dev/null 2>&1; then
    D=$T/gzchop
    dataset "$D"
    gz "$D/train-images-idx3-ubyte"
    sz=$(wc -c <"$D/train-images-idx3-ubyte.gz")
    head -c $((sz - 20)) "$D/train-images-idx3-ubyte.gz" >"$D/x" && mv "$D/x" "$D/train-images-idx3-ubyte.gz"
    check gzip-truncated 1 "train-images-idx3-ubyte.gz" -- train "$SPEC" --data "idx:$D"

    D=$T/gzcorrupt
    dataset "$D"
    gz "$D/train-images-idx3-ubyte"
    # overwrite 6 bytes of the deflate data
    { head -c 12 "$D/train-images-idx3-ubyte.gz"; bytes 255 255 255 255 255 255
      tail -c +19 "$D/train-images-idx3-ubyte.gz"; } >"$D/x" && mv "$D/x" "$D/train-images-idx3-ubyte.gz"
    check gzip-corrupt 1 "train-images-idx3-ubyte.gz" -- train "$SPEC" --data "idx:$D"

    D=$T/gzcrc
    dataset "$D"
    gz "$D/train-labels-idx1-ubyte"
    sz=$(wc -c <"$D/train-labels-idx1-ubyte.gz")
    { head -c $((sz - 8)) "$D/train-labels-idx1-ubyte.gz"; bytes 1 2 3 4; tail -c 4 "$D/train-labels-idx1-ubyte.gz"; } \
        >"$D/x" && mv "$D/x" "$D/train-labels-idx1-ubyte.gz"
    check gzip-bad-crc 1 "train-labels-idx1-ubyte.gz" -- train "$SPEC" --data "idx:$D"

    D=$T/gzgood
    dataset "$D"
    for f in "$D"/*-ubyte; do gz "$f"; done
else
    echo "SKIP gzip-*: no gzip"
fi

# ---------------------------------------------------------------- 7-11: bad model descriptions

BAD=$T/malformed.json
printf '{"layers": [' >"$BAD"
check spec-malformed-json 1 "malformed.json|line 1" -- train "$BAD" --data "idx:$GOOD"
# a model description given where a model file goes: said so, in one line
check info-of-a-description 1 "spec.json|not a model file: it begins as JSON text" -- info "$SPEC"
vcheck spec-malformed-json-valgrind 1 -- train "$BAD" --data "idx:$GOOD"
printf '{\n  "layers": [\n    {"type": "dense", "units": 3,}\n  ]\n}\n' >"$T/comma.json"
check spec-malformed-line3 1 "comma.json|line 3" -- train "$T/comma.json" --data "idx:$GOOD"
: >"$T/empty.json"
check spec-empty-file 1 "empty.json|line" -- train "$T/empty.json" --data "idx:$GOOD"
check spec-inline-malformed 1 "line 1" -- train '{"layers": [' --data "idx:$GOOD"

S=$(spec unknown_layer 's/"type": "dense", "units": 8/"type": "densee", "units": 8/')
check spec-unknown-layer 1 "unknown_layer.json|layers[0].type|densee" -- train "$S" --data "idx:$GOOD"
vcheck spec-unknown-layer-valgrind 1 -- train "$S" --data "idx:$GOOD"
S=$(spec unknown_act 's/"relu"/"reluu"/')
check spec-unknown-activation 1 "layers[0].activation|reluu" -- train "$S" --data "idx:$GOOD"
S=$(spec zero_units 's/"units": 8/"units": 0/')
check spec-zero-units 1 "layers[0].units" -- train "$S" --data "idx:$GOOD"
S=$(spec neg_units 's/"units": 8/"units": -3/')
check spec-negative-units 1 "layers[0].units" -- train "$S" --data "idx:$GOOD"
S=$(spec frac_units 's/"units": 8/"units": 2.5/')
check spec-fractional-units 1 "layers[0].units" -- train "$S" --data "idx:$GOOD"
S=$(spec str_units 's/"units": 8/"units": "8"/')
check spec-string-units 1 "layers[0].units" -- train "$S" --data "idx:$GOOD"
S=$(spec missing_units 's/"units": 8, //')
check spec-missing-hidden-units 1 "layers[0].units" -- train "$S" --data "idx:$GOOD"
S=$(spec unknown_opt 's/"type": "adam"/"type": "adamm"/')
check spec-unknown-optimizer 1 "optimizer|adamm" -- train "$S" --data "idx:$GOOD"
S=$(spec bad_lr 's/"learning_rate": 0.01/"learning_rate": -1/')
check spec-negative-lr 1 "optimizer.learning_rate" -- train "$S" --data "idx:$GOOD"
S=$(spec layer_typo 's/"units": 8/"unitz": 8/')
check spec-layer-unknown-key 1 "layers[0]|unitz|units" -- train "$S" --data "idx:$GOOD"
S=$(spec opt_typo 's/"learning_rate": 0.01/"learning_rat": 0.01/')
check spec-optimizer-unknown-key 1 "optimizer|learning_rat|learning_rate" -- train "$S" --data "idx:$GOOD"
S=$(spec nadam_decay 's/"type": "adam"/"type": "nadam", "momentum_decay": -1/')
check spec-nadam-negative-momentum-decay 1 "optimizer.momentum_decay" -- train "$S" --data "idx:$GOOD"
S=$(spec ftrl_power 's/"type": "adam"/"type": "ftrl", "learning_rate_power": 0.5/')
check spec-ftrl-positive-power 1 "optimizer.learning_rate_power" -- train "$S" --data "idx:$GOOD"
S=$(spec ftrl_l1 's/"type": "adam"/"type": "ftrl", "l1_regularization_strength": -1/')
check spec-ftrl-negative-l1 1 "optimizer.l1_regularization_strength" -- train "$S" --data "idx:$GOOD"
S=$(spec sgd_amsgrad 's/"type": "adam"/"type": "sgd", "amsgrad": true/')
check spec-amsgrad-on-sgd 1 "optimizer.amsgrad|sgd" -- train "$S" --data "idx:$GOOD"
S=$(spec amsgrad_not_bool 's/"type": "adam"/"type": "adam", "amsgrad": 1/')
check spec-amsgrad-not-bool 1 "optimizer.amsgrad" -- train "$S" --data "idx:$GOOD"
S=$(spec both_clipnorms 's/"learning_rate": 0.01/"learning_rate": 0.01, "clipnorm": 1, "global_clipnorm": 1/')
check spec-both-clipnorms 1 "optimizer.global_clipnorm|not both" -- train "$S" --data "idx:$GOOD"
check spec-unknown-metric 1 "metrics[1]|top_k" -- train '{"layers": [{"type": "dense", "units": 4}], "metrics": ["accuracy", "top_k"]}' --data "idx:$GOOD"
check spec-top-unknown-key 1 "(top level)|epocs" -- train '{"epocs": 3, "layers": [{"type": "dense", "units": 4}]}' --data "idx:$GOOD"
check spec-from-logits-mse 1 "from_logits|mse" -- train '{"layers": [{"type": "dense", "units": 4}], "loss": "mse", "from_logits": true}' --data "idx:$GOOD"
S=$(spec bad_loss 's/"sparse_categorical_crossentropy"/"crossentropyy"/')
check spec-unknown-loss 1 "loss|crossentropyy" -- train "$S" --data "idx:$GOOD"
S=$(spec bad_epochs 's/"epochs": 1/"epochs": 0/')
check spec-zero-epochs 1 "epochs" -- train "$S" --data "idx:$GOOD"
S=$(spec frac_batch 's/"batch_size": 4/"batch_size": 1.5/')
check spec-fractional-batch-size 1 "batch_size" -- train "$S" --data "idx:$GOOD"
S=$(spec bad_type 's/"type": "sequential"/"type": "sequentiall"/')
check spec-unknown-model-type 1 "type|sequentiall" -- train "$S" --data "idx:$GOOD"
S=$(spec no_layers 's/"layers"/"layerz"/')
check spec-no-layers 1 "layers" -- train "$S" --data "idx:$GOOD"
printf '[1, 2]\n' >"$T/arr.json"
check spec-top-level-array 1 "top level" -- train "$T/arr.json" --data "idx:$GOOD"
S=$(spec bad_shape 's/"input_shape": \[16\]/"input_shape": [10]/')
check spec-input-shape-mismatch 1 "16|10" -- train "$S" --data "idx:$GOOD"
D=$T/t10kclasses
dataset "$D"
labels "$D/t10k-labels-idx1-ubyte" 0 5 1 # class 5: more classes than the model's 3 outputs
check data-test-class-out-of-range 1 "classes" -- train "$SPEC" --data "idx:$D"

# ---------------------------------------------------------------- 12: usage errors

check 'usage-no-arguments*' 2 "usage" --
check usage-train-no-data 2 "--data" -- train "$SPEC"
check usage-train-no-spec 2 "SPEC" -- train --data "idx:$GOOD"
check usage-data-no-value 2 "--data" -- train "$SPEC" --data
check usage-epochs-zero 2 "--epochs" -- train "$SPEC" --data "idx:$GOOD" --epochs 0
check usage-epochs-abc 2 "--epochs" -- train "$SPEC" --data "idx:$GOOD" --epochs abc
check usage-epochs-no-value 2 "--epochs" -- train "$SPEC" --data "idx:$GOOD" --epochs
check usage-batch-size-negative 2 "--batch-size" -- train "$SPEC" --data "idx:$GOOD" --batch-size -1
check usage-lr-negative 2 "--lr" -- train "$SPEC" --data "idx:$GOOD" --lr -0.5
check usage-threads-abc 2 "--threads" -- train "$SPEC" --data "idx:$GOOD" --threads abc
check usage-unknown-option 2 "--frobnicate" -- train "$SPEC" --data "idx:$GOOD" --frobnicate
check usage-unknown-optimizer-option 2 "frobopt" -- train "$SPEC" --data "idx:$GOOD" --optimizer frobopt
check usage-precision 2 "--precision" -- train "$SPEC" --data "idx:$GOOD" --precision fp8
check usage-extra-argument 2 "extra" -- train "$SPEC" extra --data "idx:$GOOD"
check usage-unknown-command 2 "frob" -- frob

# ---------------------------------------------------------------- 13: help

help_case() {
    local name=$1 frag=$2
    shift 2
    (cd "$WORK" && $TIMEOUT "$KILN" "$@" >"$CAP/out" 2>"$CAP/err")
    local rc=$?
    if [ "$rc" -ne 0 ]; then fail "$name" "exit $rc, expected 0: $(head -n1 "$CAP/err")"
    elif [ -s "$CAP/err" ]; then fail "$name" "help wrote to stderr: $(head -n1 "$CAP/err")"
    elif ! grep -qF -- "$frag" "$CAP/out"; then fail "$name" "stdout lacks '$frag'"
    else pass "$name"; fi
}
help_case help-global "train" --help
help_case help-train "--epochs" train --help
help_case help-train-lists-data "--data" train --help
help_case help-train-after-args "--batch-size" train "$SPEC" --help

# ---------------------------------------------------------------- 14: a valid tiny run

run_ok() {
    local name=$1
    shift
    local before after
    rm -rf "$WORK" && mkdir "$WORK"
    before=$(cd "$T" && find . -path ./.cap -prune -o -print | LC_ALL=C sort)
    (cd "$WORK" && $TIMEOUT "$KILN" "$@" >"$CAP/out" 2>"$CAP/err")
    local rc=$?
    after=$(cd "$T" && find . -path ./.cap -prune -o -print | LC_ALL=C sort)
    local last
    last=$(tail -n 1 "$CAP/out")
    if [ "$rc" -ne 0 ]; then fail "$name" "exit $rc, expected 0: $(head -n1 "$CAP/err")"; return; fi
    if grep -qE 'Sanitizer|runtime error:' "$CAP/err"; then fail "$name" "sanitizer report"; return; fi
    if [ -n "$PY" ]; then
        if ! printf '%s' "$last" | "$PY" -c '
import json, sys
o = json.loads(sys.stdin.read())
assert isinstance(o, dict), "not an object"
for k in ("n_train", "n_test", "epochs", "final_loss", "test_accuracy"):
    assert k in o, "no key " + k
assert o["n_train"] == 8 and o["n_test"] == 3 and o["epochs"] == 1, "wrong counts"
' 2>"$CAP/pyerr"; then
            fail "$name" "last stdout line is not the expected JSON ($(tail -n1 "$CAP/pyerr")): $last"
            return
        fi
    elif [[ $last != '{'*'"test_accuracy"'*'}' ]]; then
        fail "$name" "last stdout line is not a JSON object with test_accuracy: $last"
        return
    fi
    if [ "$before" != "$after" ]; then fail "$name" "files written outside --out"; return; fi
    pass "$name"
}
run_ok train-tiny-json train "$SPEC" --data "idx:$GOOD" --epochs 1 --json --quiet
run_ok train-tiny-inline-spec train "$SPEC_TEXT" --data "idx:$GOOD" --epochs 1 --json --quiet
[ -d "$T/gzgood" ] && run_ok train-tiny-gzip train "$SPEC" --data "idx:$T/gzgood" --epochs 1 --json --quiet

echo "cli_bad_input: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
