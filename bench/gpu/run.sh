#!/bin/bash
# run.sh — run THERE, on the lent GPU machine, from the repo root, after bench/gpu/prepare.sh
# here. Builds nothing. Sections, described below in this order; `all` runs the issue's
# figures first, then what decides the defaults, so a call cut short by its limit still
# brings them back: tests mlp predict torch step_ab probe, then cnn wide ab checks profile
# timeline (session 11's order: the A/Bs of step_ab had come after the slow checks):
#   tests    test_cuda_ops (every op against the CPU backend, replay against launches),
#            test_rnn, test_embedding, test_attention, test_masks, test_rnn_dropout, test_time_distributed, test_prelu and
#            test_noise on the GPU (their golden models, references and statistics),
#            test_golden and test_resident on the GPU
#   mlp      the reference MLP fitted resident, batch 32 and 256 (issue 10)
#   predict  single-sample predict, host in and host out, kiln against PyTorch
#   cnn      the CNN (models/cnn.json) on im2col + cuBLASLt and PyTorch's, single-image latency
#   transformer  models/transformer_fashion.json (attention) trained on the GPU
#   wide     issue 11's wide MLP in fp32 and bf16
#   torch    PyTorch's baseline (torch_gpu_baseline.py)
#   ab       the knobs: host loop, one-rank NCCL, no graphs, no small-batch fusions (each must
#            give resident's final loss, or say what it costs), direct convolutions, TF32,
#            the MLP in bf16 and fp16, augmentation resident against the host loop
#   checks   test_nccl, compute-sanitizer memcheck
#   profile  Nsight Compute's per-kernel times of the MLP's step (all only)
#   step_ab  sessions 9 and 10's unmeasured changes against the default: the step values by a
#            copy, the gather kernel kept, programmatic dependent launch, the guard taken late,
#            the weight gradients by tiles, a polled predict, K steps to a graph launch,
#            the update in the weight gradients' launch, K steps as one kernel and a
#            persistent predict kernel (session 11) (all only)
#   best     the fastest settings step_ab found for the batch-32 and batch-256 epochs and the
#            predict, each measured again (all only; what flipping those defaults gives)
#   probe    latency_probe: a predict's round trip ways, and a step graph's cost between its
#            kernels with and without PDL and the step copy (all only)
#   timeline Nsight Systems' kernel timeline of the batch-32 step: kernels and the gaps between
#            them (all only; when nsys is there)
#   races_gpu compute-sanitizer racecheck and synccheck on test_golden, racecheck on test_resident
#            with the steps kernel (all only, last: slow, a timeout cuts only it)
# Parts: 1 = tests mlp predict torch ab(MLP); 2 = cnn wide ab(CNN) checks; all = everything;
# or a list of the functions below by name (tests mlp predict cnn wide torch_baseline ab_mlp
# ab_cnn checks profile profile_more split_ab step_ab best probe timeline chain_detail races_gpu
# confirm confirm2 sanitize28 chain_timing next_ab row29 layers29 final29 predict30 twolayer33), run in that order. confirm, confirm2 and sanitize28 are session
# 28's three checks of the defaults it set (each against what it replaced), kept to rerun.
# usage: bench/gpu/run.sh [1|2|all|"NAMES"] [CARRY_DIR]
#   one call: run(command="set -o pipefail; bench/gpu/run.sh all 2>&1 | tee $OUT/log",
#                 carry=["build-gpu-carry"], timeout_s=590)
set -uo pipefail
PART=${1:-all}
C=${2:-build-gpu-carry}
# prepare.sh carries the binaries as bin.tar.xz (seven links of libkiln, 35 MB loose): unpack
# them once; python3's tarfile where the machine has no xz
if [ -f "$C/bin.tar.xz" ] && [ ! -x "$C/bin/kiln" ]; then
  tar -C "$C" -xJf "$C/bin.tar.xz" 2>/dev/null ||
    python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$C/bin.tar.xz" "$C" ||
    { echo "run.sh: cannot unpack $C/bin.tar.xz" >&2; exit 1; }
fi
export LD_LIBRARY_PATH="$PWD/$C/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export FMNIST="$PWD/$C/fashion-mnist" KILN_DATA="$PWD/$C"
TORCH=0; python3 -c "import torch" 2>/dev/null && [ -d "$FMNIST" ] && TORCH=1
TORCH=${RUN_TORCH:-$TORCH}  # RUN_TORCH=0: kiln only (bench/gpu/rehearse.sh, on the CUDA emulator)
E=${EPOCHS:-3}              # the fits' epochs (the rehearsal: 1)
FM=0; [ -d "$FMNIST" ] && FM=1
T0=$(date +%s)
fit() { # fit LABEL [VAR=VALUE...] timeout N kiln train ...: the figures of its JSON line, or its error
  echo "== $1"; shift
  local out rc; out=$(env "$@" 2>&1); rc=$?
  out=$(printf '%s\n' "$out" | tail -1)
  case "$out" in
    "{"*) echo "$out" | tr ',' '\n' | grep -E 'resident|seconds_per_epoch|final_loss|test_accuracy' | tr -d ' ' | paste -sd' ' - ;;
    *) echo "FAILED (exit $rc; 124: its timeout): $out" ;;
  esac
}
section() { echo; echo "######## $1 (at $(( $(date +%s) - T0 )) s)"; }
K="$C/bin/kiln train models/mlp.json --data fashion-mnist --device cuda --json --quiet"
KC="$C/bin/kiln train models/cnn.json --data fashion-mnist --device cuda --json --quiet"

tests() {
  section tests
  echo "== test_cuda_ops"
  timeout 60 "$C/bin/test_cuda_ops" 2>&1 | tail -30; echo "exit ${PIPESTATUS[0]}"
  echo "== test_golden on the GPU (the reference MLP against PyTorch's stored values)"
  KILN_TEST_DEVICE=cuda timeout 20 "$C/bin/test_golden" 2>&1 | tail -4; echo "exit ${PIPESTATUS[0]}"
  echo "== test_resident on the GPU (fit's resident kernels against its host loop, fp16 loss scaling included: bit for bit)"
  KILN_TEST_DEVICE=cuda timeout 25 "$C/bin/test_resident" 2>&1 | tail -6; echo "exit ${PIPESTATUS[0]}"
  echo "== test_resident through fit's NCCL path (one rank, the gradients checked on the device) against the host loop"
  KILN_TEST_DEVICE=cuda KILN_TEST_NCCL=1 timeout 25 "$C/bin/test_resident" 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}"
  # sessions 18-27's layers, so far checked on the emulator only: their PyTorch golden models
  # and finite differences on the GPU
  for t in test_rnn test_embedding test_attention test_masks test_rnn_dropout test_time_distributed test_prelu test_noise test_depthwise test_separable test_resize test_conv_transpose test_label_smoothing test_grouped_conv test_broadcast_merge test_permute test_group_norm test_activation_layers test_dot_attention test_masking test_unit_norm test_repeat_vector test_volume; do
    echo "== $t on the GPU (its PyTorch golden models and finite differences)"
    KILN_TEST_DEVICE=cuda timeout 40 "$C/bin/$t" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  done
}
mlp() {
  [ $FM = 1 ] || return 0
  section mlp
  fit "MLP resident, batch 32, $E epochs (issue 10: <= 0.07 s/epoch, the median)" timeout ${FIT_TIMEOUT:-25} $K --epochs $E
  fit "MLP resident, batch 256, $E epochs (issue 10: <= 0.015 s/epoch)" timeout ${FIT_TIMEOUT:-20} $K --epochs $E --batch-size 256
}
predict() {
  [ $FM = 1 ] || return 0
  section predict
  echo "== single-sample predict, host in and host out (issue 10: <= 15 us and >= 3x PyTorch)"
  DEVICE=cuda timeout 30 "$C/bin/predict_latency" 2000 2>&1 | grep -E "RESULT|predict_latency"
  [ $TORCH = 1 ] && DEVICE=cuda timeout 45 python3 "$C/bench/torch_predict_latency.py" 2000 2>&1 | grep RESULT
  echo "== the same without the dense chain (KILN_CUDA_CHAIN=0: 3 products, 2 kernels): A/B"
  DEVICE=cuda KILN_CUDA_CHAIN=0 timeout 20 "$C/bin/predict_latency" 2000 2>&1 | grep -E "RESULT|predict_latency"
}
cnn() {
  [ $FM = 1 ] || return 0
  section cnn
  # docs/cuda.md, "Convolutions": keep the faster as the default (the direct kernels: in ab)
  fit "CNN $E epochs, im2col + cuBLASLt (issue 10: <= 0.6 s/epoch, the median)" timeout 45 $KC --epochs $E
  if [ $TORCH = 1 ]; then
    echo "== PyTorch CNN (torch_cnn.py, $E epochs, batch 128)"
    timeout 50 python3 "$C/bench/torch_cnn.py" $E 128 2>&1 | tail -1
  fi
  echo "== CNN single-image predict, host in and host out (issue 10: <= 50 us)"
  DEVICE=cuda timeout 30 "$C/bin/predict_latency" 2000 1 models/cnn.json 2>&1 | grep -E "RESULT|predict_latency"
  [ $TORCH = 1 ] && MODEL=cnn DEVICE=cuda timeout 45 python3 "$C/bench/torch_predict_latency.py" 2000 2>&1 | grep RESULT
}
# the attention encoder block over Fashion-MNIST rows (models/transformer_fashion.json):
# trains on the GPU, its accuracy as the CPU's (session 19; kernels_attention.cu)
transformer() {
  [ $FM = 1 ] || return 0
  section transformer
  fit "transformer_fashion $E epochs (the CPU: 0.838 after 1 epoch, 3.6 s/epoch on 1 core)" timeout 60 \
    "$C/bin/kiln" train models/transformer_fashion.json --data fashion-mnist --device cuda --json --quiet --epochs $E
}
wide() {
  section wide
  echo "== wide MLP 784-8192x3-10, batch 8192, Adam (issue 11: bf16 >= 1.1x PyTorch autocast's wide_bf16_tflops)"
  timeout 20 "$C/bin/gpu_step" cuda wide fp32 5 2>&1 | tail -1
  timeout 25 "$C/bin/gpu_step" cuda wide bf16 20 2>&1 | tail -1
}
torch_baseline() {
  [ $TORCH = 1 ] || return 0
  section torch
  echo "== PyTorch baseline (torch_gpu_baseline.py: s per epoch of 60000 rows; wide_bf16_* autocast's wide MLP)"
  timeout 95 python3 "$C/bench/torch_gpu_baseline.py" 2>&1 | tail -2
}
ab_mlp() {
  [ $FM = 1 ] || return 0
  section "ab (MLP)"
  fit "MLP host loop (KILN_RESIDENT=0), batch 32, $E epochs: final_loss as resident's" KILN_RESIDENT=0 timeout ${FIT_TIMEOUT:-25} $K --epochs $E
  fit "MLP through a one-rank NCCL communicator (KILN_NCCL=force), $E epochs: the same" KILN_NCCL=force timeout ${FIT_TIMEOUT:-25} $K --epochs $E
  fit "MLP resident without CUDA graphs (KILN_CUDA_GRAPHS=0), $E epochs: the same final_loss as replays" KILN_CUDA_GRAPHS=0 timeout ${FIT_TIMEOUT:-20} $K --epochs $E
  fit "MLP resident without the small-batch fusions (KILN_CUDA_CHAIN=0: cuBLASLt, a kernel per node), batch 32, $E epochs: A/B" KILN_CUDA_CHAIN=0 timeout ${FIT_TIMEOUT:-20} $K --epochs $E
  fit "MLP resident in bf16, $E epochs (issue 11: accuracy within 1 point of fp32)" timeout ${FIT_TIMEOUT:-25} $K --epochs $E --precision bf16
  fit "MLP resident in fp16 with loss scaling, $E epochs (the same)" timeout ${FIT_TIMEOUT:-25} $K --epochs $E --precision fp16
}
ab_cnn() {
  [ $FM = 1 ] || return 0
  section "ab (CNN)"
  fit "CNN 1 epoch, KILN_CUDA_CONV=direct" KILN_CUDA_CONV=direct timeout 35 $KC --epochs 1
  fit "CNN 1 epoch, im2col + cuBLASLt in TF32 (KILN_CUDA_TF32=1, PyTorch's allow_tf32): A/B" KILN_CUDA_TF32=1 timeout 30 $KC --epochs 1
  # session 13: augmentation resident (the gather kernel augments, augment.cuh) against the
  # host loop's loader thread; the two final_loss values must be equal
  local AUG='{"shift": 2, "flip": 0.5, "rotate": 10, "noise": 0.05, "erase": 0.1}'
  fit "CNN 1 epoch augmented, resident (the device augments)" timeout 30 $KC --epochs 1 --augment "$AUG"
  fit "CNN 1 epoch augmented, host loop (KILN_RESIDENT=0: the loader thread augments): the same final_loss" KILN_RESIDENT=0 timeout 40 $KC --epochs 1 --augment "$AUG"
  fit "MLP 1 epoch augmented, resident" timeout 20 $K --epochs 1 --augment "$AUG"
  fit "MLP 1 epoch augmented, host loop (KILN_RESIDENT=0): the same final_loss" KILN_RESIDENT=0 timeout 25 $K --epochs 1 --augment "$AUG"
}
checks() {
  section checks
  echo "== test_nccl (a one-rank NCCL communicator: the all-reduce and the broadcast on the device)"
  timeout 15 "$C/bin/test_nccl" 2>&1 | tail -6; echo "exit ${PIPESTATUS[0]}"
  if command -v compute-sanitizer >/dev/null && [ "${SANITIZE:-1}" = 1 ]; then
    echo "== compute-sanitizer memcheck (test_cuda_ops)"
    timeout 70 compute-sanitizer --tool memcheck --error-exitcode 9 "$C/bin/test_cuda_ops" 2>&1 | tail -8
    echo "exit ${PIPESTATUS[0]}"
  fi
}
# races_gpu: compute-sanitizer's racecheck (shared memory) and synccheck (barriers) on the
# reference MLP's golden steps, the cooperative steps kernel's test among them: the GPU's
# own word on what make test-emu-race checks on the emulator (all only, last: slow)
races_gpu() {
  command -v compute-sanitizer >/dev/null && [ "${SANITIZE:-1}" = 1 ] || return 0
  section "races on the GPU"
  for tool in racecheck synccheck; do
    echo "== compute-sanitizer $tool (test_golden)"
    KILN_TEST_DEVICE=cuda timeout 60 compute-sanitizer --tool $tool --error-exitcode 9 "$C/bin/test_golden" 2>&1 | tail -4
    echo "exit ${PIPESTATUS[0]}"
  done
  echo "== compute-sanitizer racecheck (test_resident, 8 steps as one cooperative kernel)"
  KILN_CUDA_STEPS_KERNEL=1 KILN_CUDA_GRAPH_STEPS=8 KILN_TEST_DEVICE=cuda timeout 90 compute-sanitizer --tool racecheck \
    --error-exitcode 9 "$C/bin/test_resident" 2>&1 | tail -4
  echo "exit ${PIPESTATUS[0]}"
}

# prof NAME SKIP COUNT COMMAND...: each kernel's time (Nsight Compute, clocks and caches left
# alone, launches SKIP..SKIP+COUNT-1), summed per kernel name; the whole CSV in $OUT/ncu_NAME.csv
prof() {
  command -v ncu >/dev/null || { echo "(no ncu)"; return 0; }
  local name=$1 skip=$2 count=$3; shift 3
  local o=${OUT:-/tmp}
  echo "== ncu: $name, launches $skip..$((skip + count - 1))"
  timeout 120 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
    --launch-skip $skip --launch-count $count "$@" >"$o/ncu_$name.csv" 2>"$o/ncu_$name.err"; echo "exit $?"
  python3 bench/gpu/ncu_table.py <"$o/ncu_$name.csv" | head -25
}
profile() { # the MLP's step kernels at batch 32 (4 launches a step) and 256
  [ $FM = 1 ] || return 0
  section profile
  prof mlp32 300 60 $K --epochs 1
  prof mlp256 300 60 $K --epochs 1 --batch-size 256
}
profile_more() { # the CNN's step and the wide MLP's bf16 step
  section "profile (CNN, wide)"
  [ $FM = 1 ] && prof cnn 2000 400 $KC --epochs 1
  prof wide_bf16 200 400 "$C/bin/gpu_step" cuda wide bf16 6
}
split_ab() { # the chain's first layer split over blocks (default) against a block a row
  [ $FM = 1 ] || return 0
  section "split A/B"
  fit "MLP resident, batch 32, a block a row (KILN_CUDA_CHAIN_SPLIT=0): A/B" KILN_CUDA_CHAIN_SPLIT=0 timeout ${FIT_TIMEOUT:-25} $K --epochs $E
  fit "MLP resident, batch 256, chains up to 64 rows (KILN_CUDA_CHAIN_ROWS=64, the old default): A/B" KILN_CUDA_CHAIN_ROWS=64 timeout ${FIT_TIMEOUT:-20} $K --epochs $E --batch-size 256
  fit "MLP resident, batch 128, 3 epochs" timeout ${FIT_TIMEOUT:-20} $K --epochs $E --batch-size 128
  fit "MLP resident, batch 256, the weight gradients fused (by tiles) up to 256 rows (KILN_CUDA_WGRAD_ROWS=256): A/B" KILN_CUDA_WGRAD_ROWS=256 timeout ${FIT_TIMEOUT:-20} $K --epochs $E --batch-size 256
  fit "MLP resident, batch 32, the weight gradients by tiles (KILN_CUDA_WGRAD_TILED=1): A/B" KILN_CUDA_WGRAD_TILED=1 timeout ${FIT_TIMEOUT:-25} $K --epochs $E
  fit "MLP resident, batch 32, the guard in a launch of its own (KILN_CUDA_WGRAD_GUARD=0): A/B" KILN_CUDA_WGRAD_GUARD=0 timeout ${FIT_TIMEOUT:-25} $K --epochs $E
  fit "MLP resident, batch 32, the backward chain in a launch of its own (KILN_CUDA_CHAIN_MERGE=0): A/B" KILN_CUDA_CHAIN_MERGE=0 timeout ${FIT_TIMEOUT:-25} $K --epochs $E
  echo "== single-sample predict, a block a row (KILN_CUDA_CHAIN_SPLIT=0): A/B"
  DEVICE=cuda KILN_CUDA_CHAIN_SPLIT=0 timeout 20 "$C/bin/predict_latency" 2000 2>&1 | grep -E "RESULT|predict_latency"
  echo "== single-sample predict, copies by the copy engine (KILN_CUDA_MAPPED=0): A/B"
  DEVICE=cuda KILN_CUDA_MAPPED=0 timeout 20 "$C/bin/predict_latency" 2000 2>&1 | grep -E "RESULT|predict_latency"
}
# ab32 LABEL [VAR=VALUE...]: the reference MLP resident at batch 32 with those settings; ab256: at batch 256.
# Each A/B's figure also goes to $ABLOG ("KIND FIGURE RESULT SETTINGS"; RESULT: the fit's
# final_loss, the predict's accuracy on its samples), from which `best` picks.
ABLOG=${OUT:-/tmp}/ab_figures.txt
abrecord() { # abrecord KIND FIGURE RESULT [VAR=VALUE...]
  local kind=$1 fig=$2 result=${3:-none}; shift 3
  [ -n "$fig" ] && echo "$kind $fig $result ${*:-default}" >>"$ABLOG"
}
abfit() { # abfit KIND LABEL [VAR=VALUE...] -- the fit's arguments
  local kind=$1 label=$2 envs=() line; shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  line=$(fit "$label" "${envs[@]}" "$@")
  echo "$line"
  abrecord "$kind" "$(printf '%s\n' "$line" | grep -o 'seconds_per_epoch":[0-9.e+-]*' | head -1 | cut -d: -f2)" \
    "$(printf '%s\n' "$line" | grep -o 'final_loss":[0-9.e+-]*' | head -1 | cut -d: -f2)" "${envs[@]}"
}
ab32() { local label=$1; shift; abfit mlp32 "MLP resident, batch 32, $label" "$@" -- timeout ${FIT_TIMEOUT:-25} $K --epochs $E; }
ab256() { local label=$1; shift; abfit mlp256 "MLP resident, batch 256, $label" "$@" -- timeout ${FIT_TIMEOUT:-20} $K --epochs $E --batch-size 256; }
# plat [VAR=VALUE...]: the single-sample predict's latency with those settings (over PLAT_N
# samples, 2000; the emulator's rehearsal: fewer)
plat() {
  local line
  line=$(env DEVICE=cuda "$@" timeout 20 "$C/bin/predict_latency" ${PLAT_N:-2000} 2>&1 | grep -E "RESULT|predict_latency")
  echo "$line"
  abrecord predict "$(printf '%s\n' "$line" | grep -o 'median_us=[0-9.]*' | head -1 | cut -d= -f2)" \
    "$(printf '%s\n' "$line" | grep -o 'accuracy_on_them=[0-9.]*' | head -1 | cut -d= -f2)" "$@"
}
# best: the fastest settings step_ab measured for each figure, measured again (the figure's
# own command, the same call): what flipping those defaults would give. Only settings whose
# result is the default's are candidates (final_loss within 1e-4 relative: a summation order
# of their own, as cuBLASLt's against the tiled kernel's, moves it by ~1e-8; the predict's
# accuracy within 2 of its 2000 samples); one that is not is named, never picked. Needs
# step_ab first.
best() {
  [ -s "$ABLOG" ] || { echo "(best: no A/B figures: run step_ab first)"; return 0; }
  section "best settings of step_ab, measured again"
  local kind fig settings want
  for kind in mlp32 mlp256 predict; do
    want=$(awk -v k="$kind" '$1 == k && $4 == "default" { print $3; exit }' "$ABLOG")
    [ -n "$want" ] || { echo "== $kind: no default measured"; continue; }
    local tol='function off(r, w) { if (r == w) return 0; if (r == "none" || w == "none") return 1;
                 d = r - w; if (d < 0) d = -d; m = w < 0 ? -w : w; return k == "predict" ? d > 0.0011 : d > 1e-4 * m }'
    awk -v k="$kind" -v w="$want" "$tol"' $1 == k && off($3, w) { $1 = ""; print "== " k ": left out (result " $3 ", the default " w "):" $0 }' "$ABLOG"
    read -r fig settings < <(awk -v k="$kind" -v w="$want" "$tol"' $1 == k && !off($3, w) { f = $2; $1 = ""; $2 = ""; $3 = ""; sub(/^   /, ""); print f, $0 }' "$ABLOG" | sort -g | head -1)
    [ -n "${fig:-}" ] || continue
    echo "== $kind: fastest in step_ab $fig with: $settings (result $want, the default's)"
    [ "$settings" = default ] && settings=
    # shellcheck disable=SC2086 # the settings are VAR=VALUE words
    case $kind in
      mlp32) fit "MLP resident, batch 32, best ($settings): issue 10's figure again" $settings timeout ${FIT_TIMEOUT:-25} $K --epochs $E ;;
      mlp256) fit "MLP resident, batch 256, best ($settings): issue 10's figure again" $settings timeout ${FIT_TIMEOUT:-20} $K --epochs $E --batch-size 256 ;;
      predict) env DEVICE=cuda $settings timeout 20 "$C/bin/predict_latency" 2000 2>&1 | grep -E "RESULT|predict_latency" ;;
    esac
    # the settings' correctness on this GPU before they become defaults: fit's resident loop
    # against its host loop bit for bit (test_resident; its batches of 66 take the weight
    # gradients by tiles where the settings fuse them), the predict's kernels against the CPU
    if [ -n "$settings" ]; then
      echo "== $kind: its settings' tests ($settings)"
      case $kind in
        predict) env $settings timeout 60 "$C/bin/test_cuda_ops" 2>&1 | grep -E "persistent|polled|FAIL|test_cuda_ops: (ok|FAILED)" | head -8 ;;
        *) env $settings KILN_TEST_DEVICE=cuda timeout 40 "$C/bin/test_resident" 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}" ;;
      esac
    fi
  done
}
step_ab() { # sessions 9 and 10's unmeasured step changes, each against the default in the same call
  [ $FM = 1 ] || return 0
  section "step A/B (sessions 9 and 10)"
  : >"$ABLOG"
  ab32 "(default: 32 steps one kernel since session 28; the gather folded into the chain, its loads unrolled)"
  ab32 "each run alone (KILN_CUDA_GRAPH_STEPS=1 KILN_CUDA_STEPS_KERNEL=0: the default before session 28): A/B" KILN_CUDA_GRAPH_STEPS=1 KILN_CUDA_STEPS_KERNEL=0
  ab32 "the update in the weight gradients' launch, after a grid barrier (KILN_CUDA_WGRAD_UPDATE=1; session 11): A/B" KILN_CUDA_WGRAD_UPDATE=1
  ab32 "... + PDL (KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_PDL=1): A/B" KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_PDL=1
  ab32 "... + PDL + 32 steps a graph launch (KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_PDL=1 KILN_CUDA_GRAPH_STEPS=32): A/B" KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_PDL=1 KILN_CUDA_GRAPH_STEPS=32
  ab256 "the update in the tiled weight gradients + PDL (KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_WGRAD_ROWS=256 KILN_CUDA_PDL=1): A/B" KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_WGRAD_ROWS=256 KILN_CUDA_PDL=1
  ab32 "32 steps as one cooperative kernel (KILN_CUDA_STEPS_KERNEL=1 KILN_CUDA_GRAPH_STEPS=32; session 11): A/B" KILN_CUDA_STEPS_KERNEL=1 KILN_CUDA_GRAPH_STEPS=32
  ab32 "8 steps as one cooperative kernel (KILN_CUDA_STEPS_KERNEL=1 KILN_CUDA_GRAPH_STEPS=8): A/B" KILN_CUDA_STEPS_KERNEL=1 KILN_CUDA_GRAPH_STEPS=8
  ab256 "32 steps as one kernel, untiled weight gradients (KILN_CUDA_STEPS_KERNEL=1 KILN_CUDA_GRAPH_STEPS=32 KILN_CUDA_WGRAD_ROWS=256 KILN_CUDA_WGRAD_TILED=0): A/B" KILN_CUDA_STEPS_KERNEL=1 KILN_CUDA_GRAPH_STEPS=32 KILN_CUDA_WGRAD_ROWS=256 KILN_CUDA_WGRAD_TILED=0
  ab32 "step values by a copy (KILN_CUDA_MAPPED=0): A/B" KILN_CUDA_MAPPED=0
  ab32 "the gather kernel kept (KILN_CUDA_FOLD=0): A/B" KILN_CUDA_FOLD=0
  ab32 "neither (KILN_CUDA_MAPPED=0 KILN_CUDA_FOLD=0: session 8's step): A/B" KILN_CUDA_MAPPED=0 KILN_CUDA_FOLD=0
  ab32 "programmatic dependent launch (KILN_CUDA_PDL=1): A/B" KILN_CUDA_PDL=1
  ab32 "PDL + the weight gradients by tiles (KILN_CUDA_PDL=1 KILN_CUDA_WGRAD_TILED=1): A/B" KILN_CUDA_PDL=1 KILN_CUDA_WGRAD_TILED=1
  ab32 "the first layer split over about 128 blocks (KILN_CUDA_SPLIT_BLOCKS=128; default 256): A/B" KILN_CUDA_SPLIT_BLOCKS=128
  ab32 "... over about 512 blocks (KILN_CUDA_SPLIT_BLOCKS=512): A/B" KILN_CUDA_SPLIT_BLOCKS=512
  ab256 "(default)"
  ab256 "PDL + fused weight gradients by tiles (KILN_CUDA_PDL=1 KILN_CUDA_WGRAD_ROWS=256): A/B" KILN_CUDA_PDL=1 KILN_CUDA_WGRAD_ROWS=256
  # session 14: at 256 rows the chain's first layer is split 4 ways a row (its most inputs a
  # block, 256), each thread 4 rounds of weight loads; 8 and 16 ways (2048, 4096 blocks)
  ab256 "the update in the tiled weight gradients + PDL, the first layer 8 blocks a row (... KILN_CUDA_SPLIT_BLOCKS=2048): A/B" KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_WGRAD_ROWS=256 KILN_CUDA_PDL=1 KILN_CUDA_SPLIT_BLOCKS=2048
  ab256 "... 16 blocks a row (... KILN_CUDA_SPLIT_BLOCKS=4096): A/B" KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_WGRAD_ROWS=256 KILN_CUDA_PDL=1 KILN_CUDA_SPLIT_BLOCKS=4096
  ab32 "the update in the weight gradients + PDL, the first layer over about 512 blocks (KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_PDL=1 KILN_CUDA_SPLIT_BLOCKS=512): A/B" KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_PDL=1 KILN_CUDA_SPLIT_BLOCKS=512
  echo "== single-sample predict (default) and waited for by polling the chain's word (KILN_CUDA_POLL=1): A/B"
  plat
  plat KILN_CUDA_POLL=1
  echo "== single-sample predict through a persistent kernel rung per sample (KILN_CUDA_PERSIST=1; session 11): A/B"
  plat KILN_CUDA_PERSIST=1
  plat KILN_CUDA_PERSIST=1 KILN_CUDA_PREFETCH=1
  plat KILN_CUDA_PERSIST=1 KILN_CUDA_SPLIT_BLOCKS=12
  ab32 "the guard taken late by the update kernel (KILN_CUDA_GUARD_LATE=1): A/B" KILN_CUDA_GUARD_LATE=1
  ab32 "late guard + PDL (KILN_CUDA_GUARD_LATE=1 KILN_CUDA_PDL=1): A/B" KILN_CUDA_GUARD_LATE=1 KILN_CUDA_PDL=1
  ab32 "the chain's weights asked into L1 first (KILN_CUDA_PREFETCH=1): A/B" KILN_CUDA_PREFETCH=1
  ab32 "PDL + prefetch (KILN_CUDA_PDL=1 KILN_CUDA_PREFETCH=1): A/B" KILN_CUDA_PDL=1 KILN_CUDA_PREFETCH=1
  ab32 "8 steps to a graph launch (KILN_CUDA_GRAPH_STEPS=8): A/B" KILN_CUDA_GRAPH_STEPS=8
  ab32 "32 steps to a graph launch (KILN_CUDA_GRAPH_STEPS=32): A/B" KILN_CUDA_GRAPH_STEPS=32
  ab32 "32 steps to a launch + PDL (KILN_CUDA_GRAPH_STEPS=32 KILN_CUDA_PDL=1): A/B" KILN_CUDA_GRAPH_STEPS=32 KILN_CUDA_PDL=1
  ab256 "32 steps to a graph launch (KILN_CUDA_GRAPH_STEPS=32): A/B" KILN_CUDA_GRAPH_STEPS=32
  echo "== single-sample predict with the chain's weights asked into L1 first (KILN_CUDA_PREFETCH=1), and with polling too: A/B"
  plat KILN_CUDA_PREFETCH=1
  plat KILN_CUDA_PREFETCH=1 KILN_CUDA_POLL=1
  echo "== single-sample predict, the first layer over 12 and 8 blocks (KILN_CUDA_SPLIT_BLOCKS=12, 8; default 24, the most at 32 inputs a block): A/B"
  plat KILN_CUDA_SPLIT_BLOCKS=12
  plat KILN_CUDA_SPLIT_BLOCKS=8
  echo "== single-sample predict launched, not replayed (KILN_CUDA_GRAPHS=0): A/B"
  plat KILN_CUDA_GRAPHS=0
  echo "== test_cuda_ops with KILN_CUDA_PREFETCH=1 (and its polled-predict case: how many waits fell back, 0 expected on a GPU)"
  KILN_CUDA_PREFETCH=1 timeout 60 "$C/bin/test_cuda_ops" 2>&1 | grep -E "polled predict|FAIL|test_cuda_ops: (ok|FAILED)" | head -8
  echo "== test_resident with PDL, prefetch and the late guard (bit for bit against the host loop)"
  KILN_CUDA_PDL=1 KILN_CUDA_PREFETCH=1 KILN_CUDA_GUARD_LATE=1 KILN_TEST_DEVICE=cuda timeout 25 "$C/bin/test_resident" 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}"
  echo "== test_resident with the update in the weight gradients (a cooperative launch), PDL, untiled and tiled (bit for bit)"
  KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_PDL=1 KILN_TEST_DEVICE=cuda timeout 25 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_WGRAD_TILED=1 KILN_TEST_DEVICE=cuda timeout 25 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  echo "== test_resident's batches of 66 with the update in the tiled weight gradients and PDL (bit for bit; session 14)"
  KILN_TEST_RESIDENT_CASE="batches of 66" KILN_CUDA_WGRAD_ROWS=256 KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_PDL=1 KILN_TEST_DEVICE=cuda \
    timeout 25 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  echo "== test_resident with 3 steps as one cooperative kernel (bit for bit against the host loop)"
  KILN_CUDA_STEPS_KERNEL=1 KILN_CUDA_GRAPH_STEPS=3 KILN_TEST_DEVICE=cuda timeout 40 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  echo "== test_resident with 3 steps to a graph launch and PDL (bit for bit against the host loop)"
  KILN_CUDA_GRAPH_STEPS=3 KILN_CUDA_PDL=1 KILN_TEST_DEVICE=cuda timeout 25 "$C/bin/test_resident" 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}"
}
# confirm: session 28's defaults (32 resident steps a graph, a plain MLP's 32 steps one
# kernel, the update in the weight gradients; optimizer.cuh's unfused products, which made
# Nadam's bits the same on every path) and the persistent predict's relayed doorbell,
# each against what it replaced, in one call: the GPU's word on test_resident first
confirm() {
  [ $FM = 1 ] || return 0
  section "confirm (session 28's defaults)"
  echo "== test_resident, the defaults (32 steps one kernel), then the variants that failed Nadam's bits in session 28's first call"
  KILN_TEST_DEVICE=cuda timeout 40 "$C/bin/test_resident" 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}"
  KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_PDL=1 KILN_CUDA_GRAPH_STEPS=1 KILN_TEST_DEVICE=cuda timeout 40 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_WGRAD_TILED=1 KILN_TEST_DEVICE=cuda timeout 40 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  KILN_TEST_RESIDENT_CASE="batches of 66" KILN_CUDA_WGRAD_ROWS=256 KILN_CUDA_WGRAD_UPDATE=1 KILN_CUDA_PDL=1 KILN_TEST_DEVICE=cuda \
    timeout 25 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  KILN_CUDA_GRAPH_STEPS=3 KILN_TEST_DEVICE=cuda timeout 40 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  echo "== test_resident, each run alone (KILN_CUDA_GRAPH_STEPS=1 KILN_CUDA_STEPS_KERNEL=0: the old defaults)"
  KILN_CUDA_GRAPH_STEPS=1 KILN_CUDA_STEPS_KERNEL=0 KILN_TEST_DEVICE=cuda timeout 40 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  echo "== test_golden on the GPU"
  KILN_TEST_DEVICE=cuda timeout 20 "$C/bin/test_golden" 2>&1 | tail -1; echo "exit ${PIPESTATUS[0]}"
  echo "== test_cuda_ops, then with the persistent predict (relayed doorbell)"
  timeout 60 "$C/bin/test_cuda_ops" 2>&1 | grep -E "persistent|polled|FAIL|test_cuda_ops: (ok|FAILED)" | head -8
  KILN_CUDA_PERSIST=1 timeout 60 "$C/bin/test_cuda_ops" 2>&1 | grep -E "persistent|polled|FAIL|test_cuda_ops: (ok|FAILED)" | head -8
  fit "MLP resident, batch 32, the new defaults (issue 10: <= 0.07)" timeout 25 $K --epochs $E
  fit "MLP resident, batch 32, the old defaults (KILN_CUDA_GRAPH_STEPS=1 KILN_CUDA_STEPS_KERNEL=0): A/B" KILN_CUDA_GRAPH_STEPS=1 KILN_CUDA_STEPS_KERNEL=0 timeout 25 $K --epochs $E
  fit "MLP resident, batch 32, the new defaults again" timeout 25 $K --epochs $E
  fit "MLP resident, batch 32, nadam, the new defaults" timeout 25 $K --epochs $E --optimizer nadam
  fit "MLP resident, batch 32, nadam, the old defaults: the same final_loss" KILN_CUDA_GRAPH_STEPS=1 KILN_CUDA_STEPS_KERNEL=0 timeout 25 $K --epochs $E --optimizer nadam
  fit "MLP resident, batch 256, the new defaults (issue 10: <= 0.015)" timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, the old defaults: A/B" KILN_CUDA_GRAPH_STEPS=1 KILN_CUDA_STEPS_KERNEL=0 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, weight gradients fused by tiles with the update (KILN_CUDA_WGRAD_ROWS=256): A/B" KILN_CUDA_WGRAD_ROWS=256 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, ... + PDL (KILN_CUDA_WGRAD_ROWS=256 KILN_CUDA_PDL=1): A/B" KILN_CUDA_WGRAD_ROWS=256 KILN_CUDA_PDL=1 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, the new defaults again" timeout 20 $K --epochs $E --batch-size 256
  echo "== single-sample predict: default; persistent (relayed doorbell), 24 and 12 blocks; no chain; copies (issue 10: <= 15 us, >= 3x PyTorch)"
  plat
  plat KILN_CUDA_PERSIST=1
  plat KILN_CUDA_PERSIST=1 KILN_CUDA_SPLIT_BLOCKS=12
  plat KILN_CUDA_PERSIST=1 KILN_CUDA_SPLIT_BLOCKS=8
  plat KILN_CUDA_CHAIN=0
  plat KILN_CUDA_MAPPED=0
  plat KILN_CUDA_POLL=1
  plat
  [ $TORCH = 1 ] && DEVICE=cuda timeout 45 python3 "$C/bench/torch_predict_latency.py" 2000 2>&1 | grep RESULT
  probe
  # a predict's kernels alone (a model file: no training launches before them)
  local o=${OUT:-/tmp}
  timeout 30 "$C/bin/kiln" train models/mlp.json --data fashion-mnist --device cuda --epochs 1 --quiet --out /tmp/m28 >/dev/null 2>&1
  if [ -f /tmp/m28/model.kiln ]; then
    prof predict1 50 20 env DEVICE=cuda "$C/bin/predict_latency" 100 1 /tmp/m28/model.kiln
    prof predict1_nochain 100 30 env DEVICE=cuda KILN_CUDA_CHAIN=0 "$C/bin/predict_latency" 100 1 /tmp/m28/model.kiln
  fi
  prof mlp256_new 300 60 $K --epochs 1 --batch-size 256
  if command -v ncu >/dev/null; then
    echo "== ncu sections of the batch-32 chain (each run alone) and of a predict's chain"
    timeout 60 ncu --clock-control none --cache-control none -k regex:dense_chain --launch-skip 100 --launch-count 1 \
      --section SpeedOfLight --section WarpStateStats --section LaunchStats --section MemoryWorkloadAnalysis \
      env KILN_CUDA_GRAPH_STEPS=1 KILN_CUDA_STEPS_KERNEL=0 $K --epochs 1 >"$o/ncu_chain32.txt" 2>&1; echo "exit $?"
    grep -E "Duration|Elapsed Cycles|SM Frequency|Stall|Warp Cycles Per Issued|Memory Throughput|L2 Hit|Registers Per|Grid Size" "$o/ncu_chain32.txt" | head -24
    [ -f /tmp/m28/model.kiln ] && { timeout 60 ncu --clock-control none --cache-control none -k regex:dense_chain --launch-skip 50 --launch-count 1 \
      --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis \
      env DEVICE=cuda "$C/bin/predict_latency" 100 1 /tmp/m28/model.kiln >"$o/ncu_predict.txt" 2>&1; echo "exit $?"
      grep -E "Duration|Elapsed Cycles|SM Frequency|Stall|Warp Cycles Per Issued|Memory Throughput|L2 Hit|Grid Size" "$o/ncu_predict.txt" | head -20; }
  fi
  if command -v compute-sanitizer >/dev/null; then
    echo "== compute-sanitizer racecheck (test_resident, the defaults: 32 steps one kernel)"
    KILN_TEST_DEVICE=cuda timeout 90 compute-sanitizer --tool racecheck --error-exitcode 9 "$C/bin/test_resident" 2>&1 | tail -3
    echo "exit ${PIPESTATUS[0]}"
  fi
}
# confirm2: session 28's third call: the weight gradients fused (by tiles, with the update)
# up to 256 rows, and a single-row predict unfused, each against what it replaced
confirm2() {
  [ $FM = 1 ] || return 0
  section "confirm2 (fused weight gradients to 256 rows, single-row predicts unfused)"
  echo "== test_resident (the defaults), its batches of 66 (by tiles, the update fused), test_cuda_ops"
  KILN_TEST_DEVICE=cuda timeout 40 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  timeout 60 "$C/bin/test_cuda_ops" 2>&1 | grep -E "FAIL|test_cuda_ops: (ok|FAILED)" | head -6
  fit "MLP resident, batch 256, the defaults (issue 10: <= 0.015)" timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, cuBLASLt's products past 64 rows (KILN_CUDA_WGRAD_ROWS=64, the old default): A/B" KILN_CUDA_WGRAD_ROWS=64 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, the defaults again" timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, a block a row (KILN_CUDA_CHAIN_SPLIT=0): A/B" KILN_CUDA_CHAIN_SPLIT=0 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 32, a block a row (KILN_CUDA_CHAIN_SPLIT=0): A/B" KILN_CUDA_CHAIN_SPLIT=0 timeout 25 $K --epochs $E
  fit "MLP resident, batch 32, the first layer over about 128 blocks (KILN_CUDA_SPLIT_BLOCKS=128): A/B" KILN_CUDA_SPLIT_BLOCKS=128 timeout 25 $K --epochs $E
  fit "MLP resident, batch 128, the defaults" timeout 20 $K --epochs $E --batch-size 128
  fit "MLP resident, batch 128, KILN_CUDA_WGRAD_ROWS=64: A/B" KILN_CUDA_WGRAD_ROWS=64 timeout 20 $K --epochs $E --batch-size 128
  fit "MLP resident, batch 32, the defaults (issue 10: <= 0.07)" timeout 25 $K --epochs $E
  fit "MLP resident, batch 32, the defaults again" timeout 25 $K --epochs $E
  fit "CNN $E epochs, the defaults (issue 10: <= 0.6)" timeout 45 $KC --epochs $E
  fit "CNN $E epochs, KILN_CUDA_WGRAD_ROWS=64: A/B" KILN_CUDA_WGRAD_ROWS=64 timeout 45 $KC --epochs $E
  echo "== single-sample predict: the default (unfused), the chain (KILN_CUDA_CHAIN_PREDICT=1), twice each; PyTorch"
  plat
  plat KILN_CUDA_CHAIN_PREDICT=1
  plat
  plat KILN_CUDA_CHAIN_PREDICT=1
  [ $TORCH = 1 ] && DEVICE=cuda timeout 45 python3 "$C/bench/torch_predict_latency.py" 2000 2>&1 | grep RESULT
  echo "== CNN single-image predict (issue 10: <= 50 us)"
  DEVICE=cuda timeout 30 "$C/bin/predict_latency" 2000 1 models/cnn.json 2>&1 | grep -E "RESULT|predict_latency"
}
# sanitize28: compute-sanitizer over session 28's defaults: memcheck of test_cuda_ops and
# test_resident, racecheck and synccheck of two of test_resident's plain-MLP cases (the K-step
# kernel; the tiled weight gradients taking the update)
sanitize28() {
  command -v compute-sanitizer >/dev/null || { echo "(no compute-sanitizer)"; return 0; }
  section "compute-sanitizer, session 28's defaults"
  echo "== memcheck test_cuda_ops"
  timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 "$C/bin/test_cuda_ops" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  echo "== memcheck test_resident"
  KILN_TEST_DEVICE=cuda timeout 70 compute-sanitizer --tool memcheck --error-exitcode 9 "$C/bin/test_resident" 2>&1 | tail -2; echo "exit ${PIPESTATUS[0]}"
  for case in "validation split (on cuda the small-batch chain" "batches of 66"; do
    for tool in racecheck synccheck; do
      echo "== $tool test_resident, the case '$case'"
      KILN_TEST_RESIDENT_CASE="$case" KILN_TEST_DEVICE=cuda timeout 45 compute-sanitizer --tool $tool --error-exitcode 9 "$C/bin/test_resident" 2>&1 | tail -2
      echo "exit ${PIPESTATUS[0]}"
    done
  done
}
# chain_timing: where a dense chain's time goes on the GPU (KILN_CUDA_CHAIN_TIMING=1: row 0's
# phases, means in us from the run's start, printed as each graph is freed; session 28 left it
# for the next GPU session): a single-row predict through the chain, and the reference MLP's
# training step at batch 32 (each run alone and 32 steps one kernel) and 256
chain_timing() {
  [ $FM = 1 ] || return 0
  section "chain timing"
  echo "== single-row predict through the chain (KILN_CUDA_CHAIN_PREDICT=1)"
  DEVICE=cuda KILN_CUDA_CHAIN_TIMING=1 KILN_CUDA_CHAIN_PREDICT=1 timeout 30 "$C/bin/predict_latency" 2000 2>&1 | grep -E "chain timing|RESULT"
  echo "== batch 32, each run alone; 32 steps one kernel; batch 256"
  KILN_CUDA_CHAIN_TIMING=1 KILN_CUDA_GRAPH_STEPS=1 KILN_CUDA_STEPS_KERNEL=0 timeout 25 $K --epochs 1 2>&1 | grep -E "chain timing"
  KILN_CUDA_CHAIN_TIMING=1 timeout 25 $K --epochs 1 2>&1 | grep -E "chain timing"
  KILN_CUDA_CHAIN_TIMING=1 timeout 25 $K --epochs 1 --batch-size 256 2>&1 | grep -E "chain timing"
}
# next_ab: A/Bs session 28 could not run (its device time spent), for the next GPU session
# beside chain_timing: at batch 256 the step without the chain (cuBLASLt's products, the
# fused weight gradients kept) and the first layer split fewer ways; the predict polled
# with the unfused products' graph (no chain: a synchronize) against the chain polled
next_ab() {
  [ $FM = 1 ] || return 0
  section "next A/Bs (session 28's list)"
  fit "MLP resident, batch 256, the defaults" timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, no chain past 128 rows (KILN_CUDA_CHAIN_ROWS=128): A/B" KILN_CUDA_CHAIN_ROWS=128 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, the first layer over about 512 blocks (KILN_CUDA_SPLIT_BLOCKS=512): A/B" KILN_CUDA_SPLIT_BLOCKS=512 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, over about 128 (KILN_CUDA_SPLIT_BLOCKS=128): A/B" KILN_CUDA_SPLIT_BLOCKS=128 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, the defaults again" timeout 20 $K --epochs $E --batch-size 256
  echo "== single-sample predict: the default, the chain polled (KILN_CUDA_POLL=1), the chain persistent over 12 blocks"
  plat
  plat KILN_CUDA_POLL=1
  plat KILN_CUDA_PERSIST=1 KILN_CUDA_SPLIT_BLOCKS=12
  plat
}
timeline() { # Nsight Systems' kernel timeline of 200 batch-32 steps, when nsys is there: real gaps between kernels
  command -v nsys >/dev/null && [ $FM = 1 ] || { echo "(no nsys)"; return 0; }
  section timeline
  local o=${OUT:-/tmp}
  timeout 90 nsys profile -o "$o/mlp32" --force-overwrite true --cuda-graph-trace=node -t cuda $K --epochs 1 >"$o/nsys.log" 2>&1
  echo "exit $?"
  timeout 60 nsys stats -r cuda_gpu_trace -f csv -o "$o/mlp32" "$o/mlp32.nsys-rep" >>"$o/nsys.log" 2>&1
  python3 bench/gpu/gaps.py "$o"/mlp32_cuda_gpu_trace.csv 2>&1 | head -20
}
chain_detail() { # Nsight Compute's sections for the chain kernels of a batch-32 step and of a predict
  command -v ncu >/dev/null && [ $FM = 1 ] || return 0
  section "chain detail"
  local o=${OUT:-/tmp}
  timeout 60 ncu --clock-control none --cache-control none -k regex:dense_chain --launch-skip 100 --launch-count 2 \
    --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats $K --epochs 1 >"$o/ncu_chain.txt" 2>&1
  echo "exit $?"
  grep -E "dense_chain_kernel|Duration|Achieved Occupancy|Stall|Warp Cycles Per Issued|Registers Per|Shared Memory Config|Block Limit" "$o/ncu_chain.txt" | head -40
}
probe() { # the round trip's own cost, ways of moving a sample in and out (latency_probe.cu)
  [ -x "$C/bin/latency_probe" ] || return 0
  section probe
  timeout 30 "$C/bin/latency_probe" 2000 2>&1 | grep -E "RESULT|latency_probe"
}

# row29: session 29's row kernel (kernels_row.cu: a single-row predict as one thread-block
# cluster, layer 0's sums through distributed shared memory, the later layers' weights in
# shared memory): its tests, its phases, the predict against the unfused one and PyTorch,
# compute-sanitizer (memcheck, racecheck, synccheck) on its cases; then batch 256 with the
# chain to 128 rows against the default 256 (the intermediate sections session 29 measured
# with, row29b to final29b, are in 906f502's run.sh; bench/RESULTS.md has their figures)
row29() {
  [ $FM = 1 ] || return 0
  section "row kernel (session 29)"
  echo "== test_cuda_ops (the single-row cases first, alone: clusters of 8, 3 and 2)"
  KILN_TEST_CUDA_OPS_ONLY=single_row timeout 30 "$C/bin/test_cuda_ops" 2>&1 | tail -3
  timeout 60 "$C/bin/test_cuda_ops" 2>&1 | grep -E "FAIL|test_cuda_ops: (ok|FAILED)" | head -6
  echo "== the row kernel's phases (KILN_CUDA_CHAIN_TIMING=1), the predict's line last"
  DEVICE=cuda KILN_CUDA_CHAIN_TIMING=1 timeout 30 "$C/bin/predict_latency" 2000 2>&1 | grep -E "chain timing|RESULT" | tail -2
  echo "== predict: the default (a cluster of 8), clusters of 4 and 2, none (unfused), the default again, polled"
  plat
  plat KILN_CUDA_ROW_CLUSTER=4
  plat KILN_CUDA_ROW_CLUSTER=2
  plat KILN_CUDA_ROW_CLUSTER=0
  plat
  plat KILN_CUDA_POLL=1
  [ $TORCH = 1 ] && DEVICE=cuda timeout 45 python3 "$C/bench/torch_predict_latency.py" 2000 2>&1 | grep RESULT
  if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck synccheck; do
      echo "== $tool, test_cuda_ops' single-row cases"
      KILN_TEST_CUDA_OPS_ONLY=single_row timeout 40 compute-sanitizer --tool $tool --error-exitcode 9 "$C/bin/test_cuda_ops" 2>&1 | tail -2
      echo "exit ${PIPESTATUS[0]}"
    done
  fi
  fit "MLP resident, batch 256, the defaults" timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, no chain past 128 rows (KILN_CUDA_CHAIN_ROWS=128): A/B" KILN_CUDA_CHAIN_ROWS=128 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, the defaults again" timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, KILN_CUDA_CHAIN_ROWS=128 again" KILN_CUDA_CHAIN_ROWS=128 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 32, the defaults" timeout 25 $K --epochs $E
}

# layers29: one small layer's cost in cycles (layer_probe.cu: chain.cuh's layer_sums, weights
# in shared or global memory, 6 rounds a launch; round 0 cold)
layers29() {
  [ -x "$C/bin/layer_probe" ] || return 0
  section "layer probe (session 29)"
  timeout 30 "$C/bin/layer_probe" 200 2>&1 | grep -E "RESULT|layer_probe"
}

# final29: session 29's defaults (the row kernel's input first; the chain to 256 rows again)
# against every figure of issue 10, PyTorch in the same call
final29() {
  [ $FM = 1 ] || return 0
  section "final (session 29)"
  echo "== tests: test_cuda_ops, test_golden, test_resident, memcheck of the single-row cases"
  timeout 60 "$C/bin/test_cuda_ops" 2>&1 | grep -E "FAIL|test_cuda_ops: (ok|FAILED)" | head -6
  KILN_TEST_DEVICE=cuda timeout 20 "$C/bin/test_golden" 2>&1 | tail -1
  KILN_TEST_DEVICE=cuda timeout 40 "$C/bin/test_resident" 2>&1 | tail -1
  command -v compute-sanitizer >/dev/null && KILN_TEST_CUDA_OPS_ONLY=single_row timeout 40 compute-sanitizer --tool memcheck --error-exitcode 9 "$C/bin/test_cuda_ops" 2>&1 | tail -1
  echo "== the row kernel's phases"
  DEVICE=cuda KILN_CUDA_CHAIN_TIMING=1 timeout 30 "$C/bin/predict_latency" 2000 2>&1 | grep -E "chain timing" | tail -1
  echo "== predict (issue 10: <= 15 us and >= 3x PyTorch): the default, unfused (KILN_CUDA_ROW_CLUSTER=0), the default twice; PyTorch"
  plat
  plat KILN_CUDA_ROW_CLUSTER=0
  plat
  plat
  [ $TORCH = 1 ] && DEVICE=cuda timeout 45 python3 "$C/bench/torch_predict_latency.py" 2000 2>&1 | grep RESULT
  fit "MLP resident, batch 32 (issue 10: <= 0.07)" timeout 25 $K --epochs $E
  fit "MLP resident, batch 32 again" timeout 25 $K --epochs $E
  fit "MLP resident, batch 256 (issue 10: <= 0.015)" timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256 again" timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 256, the chain to 128 rows (KILN_CUDA_CHAIN_ROWS=128): A/B" KILN_CUDA_CHAIN_ROWS=128 timeout 20 $K --epochs $E --batch-size 256
  fit "MLP resident, batch 128" timeout 20 $K --epochs $E --batch-size 128
  fit "CNN $E epochs (issue 10: <= 0.6)" timeout 45 $KC --epochs $E
  echo "== CNN single-image predict (issue 10: <= 50 us)"
  DEVICE=cuda timeout 30 "$C/bin/predict_latency" 2000 1 models/cnn.json 2>&1 | grep -E "RESULT|predict_latency"
  torch_baseline
}

# predict30: session 30's A/Bs of the predict, written without a GPU (run on the emulator
# only), about 2 minutes: the row kernel's phases with its later layers run twice in the
# same launch (KILN_CUDA_ROW_REPEAT: the first pass against the same code once it has run,
# to tell a cold start's cost from the work's) and where block 0 lands from one predict to
# the next; the input carried in the launch's parameters (KILN_CUDA_ROW_INPUT=param:
# launched, never replayed) against the mapped input, with a plain launch of the default
# (KILN_CUDA_GRAPHS=0) to part the launch's cost from the input's; the later layers a warp
# a column from transposed weights (KILN_CUDA_ROW_TAIL=warps), and with the last layer and
# its softmax by warp 0 alone (=warps_end), alone and with the input in the parameters; the
# later layers' threads a column (KILN_CUDA_ROW_PARTS, default 8);
# PyTorch's CUDA graph in the same call for the ratio
predict30() {
  [ $FM = 1 ] || return 0
  section "predict A/Bs (session 30)"
  echo "== test_cuda_ops' single-row cases (each switch below among them), then memcheck and racecheck of them"
  KILN_TEST_CUDA_OPS_ONLY=single_row timeout 40 "$C/bin/test_cuda_ops" 2>&1 | tail -1
  if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
      KILN_TEST_CUDA_OPS_ONLY=single_row timeout 60 compute-sanitizer --tool $tool --error-exitcode 9 "$C/bin/test_cuda_ops" 2>&1 | tail -1
      echo "exit ${PIPESTATUS[0]} ($tool)"
    done
  fi
  echo "== the row kernel's phases: the default, its later layers twice, the input in the parameters, the"
  echo "   later layers a warp a column, and the last with its softmax by warp 0, that with the parameters' input"
  local v
  for v in KILN_CUDA_ROW_REPEAT=0 KILN_CUDA_ROW_REPEAT=1 KILN_CUDA_ROW_INPUT=param KILN_CUDA_ROW_TAIL=warps \
    KILN_CUDA_ROW_TAIL=warps_end "KILN_CUDA_ROW_TAIL=warps_end KILN_CUDA_ROW_INPUT=param"; do
    echo "-- $v"
    env DEVICE=cuda KILN_CUDA_CHAIN_TIMING=1 $v timeout 30 "$C/bin/predict_latency" ${PLAT_N:-2000} 2>&1 | grep -E "chain timing" | tail -1
  done
  echo "== predict (issue 10: <= 15 us and >= 3x PyTorch): the default; the input in the parameters; the default"
  echo "   launched (no graph); the later layers a warp a column; and the last with its softmax by warp 0, alone"
  echo "   and with the parameters' input; the later layers at 1, 2, 4 and 16 threads a column; the first six again;"
  echo "   the parameters' input over a cluster of 4; PyTorch"
  local round start
  start=$(cat "$ABLOG" 2>/dev/null | wc -l)
  for round in 1 2; do
    plat
    plat KILN_CUDA_ROW_INPUT=param
    plat KILN_CUDA_GRAPHS=0
    plat KILN_CUDA_ROW_TAIL=warps
    plat KILN_CUDA_ROW_TAIL=warps_end
    plat KILN_CUDA_ROW_TAIL=warps_end KILN_CUDA_ROW_INPUT=param
    [ $round = 1 ] && for v in 1 2 4 16; do plat KILN_CUDA_ROW_PARTS=$v; done
  done
  plat KILN_CUDA_ROW_INPUT=param KILN_CUDA_ROW_CLUSTER=4
  local torch_line=""
  [ $TORCH = 1 ] && torch_line=$(DEVICE=cuda timeout 45 python3 "$C/bench/torch_predict_latency.py" 2000 2>&1 | grep RESULT)
  [ -n "$torch_line" ] && echo "$torch_line"
  echo "== predict30's settings, fastest first: the median of each one's runs above, and PyTorch's CUDA graph over it"
  tail -n +$((start + 1)) "$ABLOG" 2>/dev/null | grep "^predict " | python3 -c '
import re, sys
graph = re.search(r"device=cuda_graph .*?median_us=([0-9.]+)", sys.argv[1])
graph = float(graph.group(1)) if graph else None
runs = {}
for line in sys.stdin:
    f = line.split()
    if len(f) >= 4 and f[1] != "none":
        runs.setdefault(" ".join(f[3:]), []).append(float(f[1]))
def median(v):
    v = sorted(v)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2
for us, key in sorted((median(v), k) for k, v in runs.items()):
    ratio = "%.2fx" % (graph / us) if graph else "-"
    print("%8.2f us  %6s  %s" % (us, ratio, key))
' "$torch_line"
  return 0
}

# twolayer33: session 33's change, written without a GPU (checked on the emulator only): a
# two-layer MLP's one backward node merged into the forward chain's kernel, so that its
# resident step is the K-step kernel's (docs/cuda.md, "Left to do" 1b). A 784-64-10 MLP at
# batch 32, the default against KILN_CUDA_CHAIN_MERGE=0 (which for this model is the code
# before the change: nothing merged), twice each, interleaved; about 40 s. Keep the change
# if the default is not slower; else revert small_batch.c's one-node chain.
twolayer33() {
  [ $FM = 1 ] || return 0
  section "two-layer MLP, the backward node merged (session 33)"
  local spec='{"type": "sequential", "input_shape": [784], "layers": [{"type": "dense", "units": 64, "activation": "relu"}, {"type": "dense", "units": 10, "activation": "softmax"}], "loss": "sparse_categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.001}}'
  local opts="--data fashion-mnist --device cuda --json --quiet --epochs $E"
  local round
  for round in 1 2; do
    fit "784-64-10 MLP resident, batch 32, merged (the default)" timeout 25 "$C/bin/kiln" train "$spec" $opts
    fit "784-64-10 MLP resident, batch 32, unmerged (KILN_CUDA_CHAIN_MERGE=0): A/B" KILN_CUDA_CHAIN_MERGE=0 timeout 25 "$C/bin/kiln" train "$spec" $opts
  done
}

echo "== device"; nvidia-smi -L 2>&1 | head -2
case "$PART" in
  1) tests; mlp; predict; torch_baseline; ab_mlp ;;
  2) cnn; transformer; wide; ab_cnn; checks ;;
  all) tests; mlp; predict; torch_baseline; step_ab; best; probe; cnn; transformer; wide; ab_mlp; ab_cnn; checks; profile; timeline; races_gpu ;;
  *) for f in $PART; do $f; done ;; # sections by name: "tests mlp probe"
esac
section done
