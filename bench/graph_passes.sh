#!/bin/bash
# graph_passes.sh — the graph optimizer's effect, passes off vs on in the same run: node
# count, planned arena bytes (against the naive sum) and s/epoch (median epoch, fp32, all
# 60,000 Fashion-MNIST samples) for the reference MLP's training step (784-64-64-10, batch
# 32) and the deeper MLP (models/deep_mlp.json: 784-512x4-10, batch 128), plus each pass
# turned off alone. Passes are interleaved per round so machine noise hits both sides.
# usage: bench/graph_passes.sh [EPOCHS=3] [ROUNDS=3]   (from the repository root, after make)
set -euo pipefail
EPOCHS=${1:-3}
ROUNDS=${2:-3}
BUILD=${BUILD:-build}
KILN=$BUILD/kiln
PY=/usr/bin/python3
[ -x "$KILN" ] || { echo "build kiln first (make)"; exit 1; }

echo "# $(date -u +%F) $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), epochs=$EPOCHS rounds=$ROUNDS"
echo "# $KILN train SPEC --data fashion-mnist --epochs $EPOCHS --threads 2 --passes P; $KILN graph SPEC --training --passes P"

graph_field() { # spec passes key
    $KILN graph "$1" --training --passes "$2" --json | tail -n 1 | $PY -c "import json,sys; print(json.load(sys.stdin)['$3'])"
}
epoch_seconds() { # spec passes
    $KILN train "$1" --data fashion-mnist --epochs "$EPOCHS" --threads 2 --passes "$2" --json --quiet | tail -n 1 |
        $PY -c 'import json,sys; print(json.load(sys.stdin)["seconds_per_epoch"])'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for spec in models/mlp.json models/deep_mlp.json; do
    variants=(none all -dce -fold -cse -simplify -fuse -inplace)
    declare -A times=()
    for r in $(seq 1 "$ROUNDS"); do
        for v in "${variants[@]}"; do times[$v]+="$(epoch_seconds "$spec" "$v") "; done
    done
    echo
    echo "## $spec (training step)"
    echo
    echo "| passes | nodes | arena bytes | naive bytes | arena/naive | s/epoch (median of $ROUNDS) | vs none |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    none_t=$(echo ${times[none]} | tr ' ' '\n' | median)
    for v in "${variants[@]}"; do
        nodes=$(graph_field "$spec" "$v" nodes_after)
        arena=$(graph_field "$spec" "$v" arena_bytes)
        naive=$(graph_field "$spec" "$v" naive_bytes)
        t=$(echo ${times[$v]} | tr ' ' '\n' | median)
        echo "| $v | $nodes | $arena | $naive | $(awk "BEGIN{printf \"%.1f%%\", 100*$arena/$naive}") | $t | $(awk "BEGIN{printf \"%.2fx\", $none_t/$t}") |"
    done
    unset times
done
