#!/bin/bash
# mpi_scaling.sh — data-parallel scaling on this machine: the reference MLP (models/mlp.json,
# 784-64-64-10) on all 60,000 Fashion-MNIST samples, global batch 256, as
#   1 rank x 1 thread   (the baseline)
#   2 ranks x 1 thread  (mpirun -np 2: fp32 all-reduce, then fp16)
#   1 rank x 2 threads  (the same two cores used by threads instead of processes)
# interleaved per round so machine noise hits every variant. Reports the median s/epoch
# (each run's own median epoch), throughput against the baseline, test accuracy (the mean
# over the rounds, each round its own seed) and the all-reduce time per step.
# usage: bench/mpi_scaling.sh [EPOCHS=3] [ROUNDS=3]   (from the repository root, after make)
set -euo pipefail
EPOCHS=${1:-3}
ROUNDS=${2:-3}
BUILD=${BUILD:-build}
KILN=$BUILD/kiln
PY=/usr/bin/python3
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
[ -x "$KILN" ] || { echo "build kiln first (make)"; exit 1; }
export OPENBLAS_NUM_THREADS=1

echo "# $(date -u +%F) $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), epochs=$EPOCHS rounds=$ROUNDS, batch 256"
ARGS=(train models/mlp.json --data fashion-mnist --epochs "$EPOCHS" --batch-size 256 --json --quiet)

run() { # name, seed, command...
    local seed=$1
    shift
    "$@" --seed "$seed" | tail -n 1 | $PY -c 'import json,sys; o=json.load(sys.stdin); print(o["seconds_per_epoch"], o["test_accuracy"], o.get("allreduce_us_per_step", 0))'
}
names=("1 rank x 1 thread" "2 ranks x 1 thread" "2 ranks x 1 thread, fp16" "1 rank x 2 threads")
declare -A t=() acc=() ar=()
for r in $(seq 1 "$ROUNDS"); do
    seed=$((41 + r))
    for i in 0 1 2 3; do
        case $i in
        0) out=$(run $seed $KILN "${ARGS[@]}" --threads 1) ;;
        1) out=$(run $seed timeout 600 "${MPIRUN[@]}" -np 2 --bind-to core $KILN "${ARGS[@]}" --threads 1) ;;
        2) out=$(run $seed timeout 600 "${MPIRUN[@]}" -np 2 --bind-to core $KILN "${ARGS[@]}" --threads 1 --grad-compression fp16) ;;
        3) out=$(run $seed $KILN "${ARGS[@]}" --threads 2) ;;
        esac
        read -r s a u <<<"$out"
        t[$i]+="$s "
        acc[$i]+="$a "
        ar[$i]+="$u "
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mean() { tr ' ' '\n' | grep . | awk '{s+=$1} END {printf "%.4f", s/NR}'; }
base=$(median <<<"${t[0]}")
base_acc=$(mean <<<"${acc[0]}")
echo
echo "| variant | s/epoch (median of $ROUNDS) | throughput vs 1x1 | test accuracy (mean) | vs 1x1 (points) | all-reduce us/step |"
echo "| --- | --- | --- | --- | --- | --- |"
for i in 0 1 2 3; do
    s=$(median <<<"${t[$i]}")
    a=$(mean <<<"${acc[$i]}")
    u=$(median <<<"${ar[$i]}")
    awk -v n="${names[$i]}" -v s="$s" -v b="$base" -v a="$a" -v ba="$base_acc" -v u="$u" \
        'BEGIN { printf "| %s | %.3f | %.2fx | %.4f | %+.2f | %s |\n", n, s, b / s, a, 100 * (a - ba), (u > 0 ? sprintf("%.0f", u) : "-") }'
done
