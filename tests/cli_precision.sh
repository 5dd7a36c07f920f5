#!/usr/bin/env bash
# cli_precision.sh — `kiln train --precision` on a tiny CSV: a bad value is a usage error
# (exit 2, one stderr line); a bad description "precision" a runtime error (exit 1); an fp16
# run reports skipped steps and the loss scale (epoch line, history.csv, --json) and an fp32
# run does not; the saved model records its precision; --resume cannot change it.
#
# usage: tests/cli_precision.sh PATH/TO/kiln
set -u
if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 PATH/TO/kiln" >&2
    exit 2
fi
KILN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln_precision.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
FAILS=0
pass() { echo "PASS $1"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL $1: $2"; }

{
    echo "a,b,c,y"
    for ((i = 0; i < 60; i++)); do echo "$((i % 7)),$((i * 3 % 11)),$((i % 5)),$((i % 3))"; done
} >"$T/d.csv"
SPEC='{"layers": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dense"}], "epochs": 2, "batch_size": 16}'
DATA="csv:$T/d.csv:task=classification"

# expect NAME CODE LINES-ON-STDERR ARGS...
"$KILN" train "$SPEC" --data "$DATA" --precision fp8 >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "fp32, bf16 or fp16, got 'fp8'" "$T/err"; then
    pass "--precision fp8 is a usage error"
else
    fail "--precision fp8" "exit $rc: $(cat "$T/err")"
fi

"$KILN" train '{"layers": [{"type": "dense"}], "precision": "half"}' --data "$DATA" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q 'precision: expected "fp32", "bf16" or "fp16"' "$T/err"; then
    pass "a bad description precision names the field"
else
    fail "description precision" "exit $rc: $(cat "$T/err")"
fi

"$KILN" train "$SPEC" --data "$DATA" --precision fp16 --json --out "$T/o16" --checkpoint-every 2 >"$T/out" 2>"$T/err"
rc=$?
last=$(tail -n 1 "$T/out")
if [ $rc -eq 0 ] && echo "$last" | grep -q '"precision": "fp16"' && echo "$last" | grep -q '"skipped_steps": 0' &&
    echo "$last" | grep -q '"loss_scale": 65536' && grep -q "skipped: 0 - loss_scale: 65536" "$T/err" &&
    head -n 1 "$T/o16/history.csv" | grep -q ',skipped_steps,loss_scale$'; then
    pass "an fp16 run reports skipped steps and the loss scale"
else
    fail "fp16 run" "exit $rc: $last / $(tail -n 3 "$T/err")"
fi
if "$KILN" info "$T/o16/model.kiln" --json 2>/dev/null | grep -q 'fp16'; then
    pass "the saved model records fp16"
else
    fail "info" "no fp16 in: $("$KILN" info "$T/o16/model.kiln" --json 2>&1 | tail -n 1)"
fi
"$KILN" train --resume "$T/o16" --data "$DATA" --precision fp32 --epochs 3 >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "the checkpointed run trains in fp16" "$T/err"; then
    pass "--resume cannot change the precision"
else
    fail "--resume --precision" "exit $rc: $(cat "$T/err")"
fi

"$KILN" train "$SPEC" --data "$DATA" --json --out "$T/o32" >"$T/out" 2>"$T/err"
rc=$?
last=$(tail -n 1 "$T/out")
if [ $rc -eq 0 ] && echo "$last" | grep -q '"precision": "fp32"' && ! echo "$last" | grep -q 'skipped_steps' &&
    ! grep -q "loss_scale" "$T/err" && ! grep -q skipped "$T/o32/history.csv"; then
    pass "an fp32 run shows no loss scaling"
else
    fail "fp32 run" "exit $rc: $last"
fi

[ $FAILS -eq 0 ] || exit 1
