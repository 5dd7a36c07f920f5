#!/usr/bin/env bash
# cli_mpi.sh — `mpirun -np 2 kiln train` end to end on a small CSV: one JSON line (rank 0's)
# with ranks 2 and the per-rank batch, the same final loss as one process, fp16 all-reduce,
# --out written once; and a rank that cannot read its data file ending the whole job with
# its message within seconds (every mpirun under timeout: a hang fails the test).
#
# usage: tests/cli_mpi.sh PATH/TO/kiln MPIRUN [MPIRUN_FLAGS...]
set -u
if [ $# -lt 2 ] || [ ! -x "$1" ]; then
    echo "usage: $0 PATH/TO/kiln MPIRUN [FLAGS...]" >&2
    exit 2
fi
KILN=$1
shift
MPIRUN=("$@")
SRC=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/kiln_mpi.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

FAILS=0
pass() { echo "PASS $1"; }
fail() { FAILS=$((FAILS + 1)); echo "FAIL $1: $2"; }
# json_num KEY < line: the number after "KEY": (empty when absent)
json_num() { sed -n "s/.*\"$1\": \([-0-9.eE+]*\).*/\1/p"; }

SPEC='{"layers": [{"type": "dense", "units": 16, "activation": "relu"}, {"type": "dense"}], "batch_size": 64, "epochs": 3}'
DATA="csv:$SRC/data/breast_cancer.csv"
ARGS=(train "$SPEC" --data "$DATA" --test-split 0.2 --threads 1 --json)

timeout 30 "$KILN" "${ARGS[@]}" --quiet >"$T/one.out" 2>"$T/one.err" || fail one-rank "exit $? $(tail -1 "$T/one.err")"
timeout 60 "${MPIRUN[@]}" -np 2 "$KILN" "${ARGS[@]}" >"$T/two.out" 2>"$T/two.err"
rc=$?
if [ $rc -ne 0 ]; then
    fail two-ranks "exit $rc: $(tail -3 "$T/two.err")"
else
    lines=$(grep -c '^{' "$T/two.out")
    line=$(grep '^{' "$T/two.out" | tail -1)
    [ "$lines" = 1 ] && pass "one JSON line (rank 0's)" || fail json-lines "$lines JSON lines on stdout"
    [ "$(json_num ranks <<<"$line")" = 2 ] && pass "ranks 2" || fail ranks "$line"
    [ "$(json_num rank_batch_size <<<"$line")" = 32 ] && pass "rank_batch_size 32" || fail rank-batch "$line"
    [ -n "$(json_num allreduce_seconds <<<"$line")" ] && pass "allreduce_seconds" || fail allreduce "$line"
    shares=$(grep -c "Data parallel: 2 ranks, global batch 64: 32 rows per rank" "$T/two.err")
    [ "$shares" = 1 ] && pass "per-rank share printed once" || fail share "printed $shares times"
    a=$(json_num final_loss <"$T/one.out") b=$(json_num final_loss <<<"$line")
    # the same training to float rounding (the gradient summed in another order)
    if awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d < 1e-4) }'; then
        pass "final loss $b as one process's $a"
    else
        fail same-loss "2 ranks $b, 1 rank $a"
    fi
fi

timeout 60 "${MPIRUN[@]}" -np 2 "$KILN" "${ARGS[@]}" --grad-compression fp16 --out "$T/run" >"$T/fp16.out" 2>"$T/fp16.err"
rc=$?
line=$(grep '^{' "$T/fp16.out" | tail -1)
if [ $rc -eq 0 ] && grep -q '"grad_compression": "fp16"' <<<"$line" && [ -s "$T/run/model.kiln" ] && [ -s "$T/run/history.csv" ]; then
    pass "fp16 all-reduce, --out written"
else
    fail fp16 "exit $rc: $(tail -2 "$T/fp16.err")"
fi

# rank 1 cannot read its data: the job ends (no hang) with the file's name on stderr
t0=$(date +%s)
timeout 30 "${MPIRUN[@]}" -np 1 "$KILN" "${ARGS[@]}" : -np 1 "$KILN" train "$SPEC" --data "csv:$T/missing.csv" \
    --test-split 0.2 --threads 1 --json >"$T/bad.out" 2>"$T/bad.err"
rc=$?
took=$(($(date +%s) - t0))
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "missing.csv" "$T/bad.err" && [ $took -le 10 ]; then
    pass "a rank's bad data file ends the job in ${took}s (exit $rc)"
else
    fail bad-file "exit $rc after ${took}s: $(grep -m1 kiln "$T/bad.err")"
fi

# a usage error on every rank: exit 2, no MPI abort
timeout 30 "${MPIRUN[@]}" -np 2 "$KILN" "${ARGS[@]}" --grad-compression int8 >/dev/null 2>"$T/usage.err"
rc=$?
[ $rc -eq 2 ] && pass "usage error exits 2" || fail usage "exit $rc"

[ $FAILS -eq 0 ] && echo "ok" || echo "$FAILS failed"
exit $((FAILS > 0))
