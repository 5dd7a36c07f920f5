#!/bin/bash
# augment_loader.sh — does the background loader hide augmentation? The reference MLP
# (models/mlp.json, 784-64-64-10, batch 32, all 60,000 Fashion-MNIST samples) with 1 training
# thread, augmentation off and on (the issue's config), the loader thread on and off, all in
# the same run and interleaved per round so machine noise hits every variant. Reports the
# median s/epoch of each and the ratio to plain training.
# usage: bench/augment_loader.sh [EPOCHS=3] [ROUNDS=5]   (from the repository root, after make)
set -euo pipefail
EPOCHS=${1:-3}
ROUNDS=${2:-5}
BUILD=${BUILD:-build}
KILN=$BUILD/kiln
PY=/usr/bin/python3
[ -x "$KILN" ] || { echo "build kiln first (make)"; exit 1; }
AUG='{"shift": 2, "flip": 0.5, "rotate": 10, "noise": 0.05, "erase": 0.1}'

echo "# $(date -u +%F) $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores), epochs=$EPOCHS rounds=$ROUNDS"
echo "# $KILN train models/mlp.json --data fashion-mnist --epochs $EPOCHS --threads 1 --augment A --loader-thread L"
echo "# A = off | $AUG"

epoch_seconds() { # augment loader
    $KILN train models/mlp.json --data fashion-mnist --epochs "$EPOCHS" --threads 1 --augment "$1" --loader-thread "$2" \
        --json --quiet | tail -n 1 | $PY -c 'import json,sys; o=json.load(sys.stdin); print(o["seconds_per_epoch"], o["test_accuracy"])'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

names=("plain, inline" "plain, loader thread" "augmented, inline" "augmented, loader thread")
augs=(off off "$AUG" "$AUG")
loaders=(off on off on)
declare -A t=() acc=()
for r in $(seq 1 "$ROUNDS"); do
    for i in 0 1 2 3; do
        read -r s a < <(epoch_seconds "${augs[$i]}" "${loaders[$i]}")
        t[$i]+="$s "
        acc[$i]="$a"
    done
done
echo
echo "| variant | s/epoch (median of $ROUNDS) | vs plain inline | test accuracy after $EPOCHS epochs |"
echo "| --- | --- | --- | --- |"
base=$(echo ${t[0]} | tr ' ' '\n' | median)
for i in 0 1 2 3; do
    m=$(echo ${t[$i]} | tr ' ' '\n' | median)
    echo "| ${names[$i]} | $m | $($PY -c "print(f'{$m / $base:.2f}x')") | ${acc[$i]} |"
done
