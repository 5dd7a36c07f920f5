#!/bin/bash
# run.sh — run THERE, on the lent GPU machine, from the repo root, after bench/gpu/prepare.sh
# here. Builds nothing. Two parts, each one device call (timeouts add up to 430 s and 365 s,
# so both fit one session's 15 minutes with the machine's start):
#   part 1: test_cuda_ops (every op against the CPU backend, replay against launches); the
#           reference MLP fitted on the device (resident, batch 32 and 256; the host loop and
#           NCCL's one-rank path must give the same final loss); single-sample predict, host
#           in and host out, kiln against PyTorch eager and CUDA graph; PyTorch's baseline.
#   part 2: the CNN (models/cnn.json) on each convolution path and PyTorch's, and its
#           single-image predict latency against PyTorch's;
#           issue 11's wide MLP in fp32 and bf16; test_nccl; compute-sanitizer memcheck.
# usage: bench/gpu/run.sh [1|2|all] [CARRY_DIR]
#   run(command="bench/gpu/run.sh 1", carry=["build-gpu-carry"], timeout_s=450), then part 2 (380)
set -uo pipefail
PART=${1:-all}
C=${2:-build-gpu-carry}
export LD_LIBRARY_PATH="$PWD/$C/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export FMNIST="$PWD/$C/fashion-mnist" KILN_DATA="$PWD/$C"
TORCH=0; python3 -c "import torch" 2>/dev/null && [ -d "$FMNIST" ] && TORCH=1
TORCH=${RUN_TORCH:-$TORCH}  # RUN_TORCH=0: kiln only (bench/gpu/rehearse.sh, on the CUDA emulator)
E=${EPOCHS:-3}              # the fits' epochs (the rehearsal: 1)
fit() { # fit LABEL [VAR=VALUE...] timeout N kiln train ...: the figures of its JSON line, or its error
  echo "== $1"; shift
  local out rc; out=$(env "$@" 2>&1); rc=$?
  out=$(printf '%s\n' "$out" | tail -1)
  case "$out" in
    "{"*) echo "$out" | tr ',' '\n' | grep -E 'resident|seconds_per_epoch|final_loss|test_accuracy' | tr -d ' ' | paste -sd' ' - ;;
    *) echo "FAILED (exit $rc; 124: its timeout): $out" ;;
  esac
}
echo "== device"; nvidia-smi -L 2>&1 | head -2

if [ "$PART" = 1 ] || [ "$PART" = all ]; then
  echo "== test_cuda_ops"
  timeout 60 "$C/bin/test_cuda_ops" 2>&1 | tail -30; echo "exit ${PIPESTATUS[0]}"
  echo "== test_golden on the GPU (the reference MLP against PyTorch's stored values)"
  KILN_TEST_DEVICE=cuda timeout 20 "$C/bin/test_golden" 2>&1 | tail -4; echo "exit ${PIPESTATUS[0]}"
  echo "== test_resident on the GPU (fit's resident kernels against its host loop, fp16 loss scaling included: bit for bit)"
  KILN_TEST_DEVICE=cuda timeout 25 "$C/bin/test_resident" 2>&1 | tail -6; echo "exit ${PIPESTATUS[0]}"
  if [ -d "$FMNIST" ]; then
    K="$C/bin/kiln train models/mlp.json --data fashion-mnist --device cuda --json --quiet"
    fit "MLP resident, batch 32, 3 epochs (issue 10: <= 0.07 s/epoch, the median)" timeout ${FIT_TIMEOUT:-25} $K --epochs $E
    fit "MLP resident, batch 256, 3 epochs (issue 10: <= 0.015 s/epoch)" timeout ${FIT_TIMEOUT:-20} $K --epochs $E --batch-size 256
    fit "MLP host loop (KILN_RESIDENT=0), batch 32, 3 epochs: final_loss as resident's" KILN_RESIDENT=0 timeout ${FIT_TIMEOUT:-25} $K --epochs $E
    fit "MLP through a one-rank NCCL communicator (KILN_NCCL=force), 3 epochs: the same" KILN_NCCL=force timeout ${FIT_TIMEOUT:-25} $K --epochs $E
    fit "MLP resident without CUDA graphs (KILN_CUDA_GRAPHS=0), 3 epochs: the same final_loss as replays" KILN_CUDA_GRAPHS=0 timeout ${FIT_TIMEOUT:-20} $K --epochs $E
    fit "MLP resident without the small-batch fusions (KILN_CUDA_CHAIN=0: cuBLASLt, a kernel per node), batch 32, 3 epochs: A/B" KILN_CUDA_CHAIN=0 timeout ${FIT_TIMEOUT:-20} $K --epochs $E
    echo "== single-sample predict, host in and host out (issue 10: <= 15 us and >= 3x PyTorch)"
    DEVICE=cuda timeout 30 "$C/bin/predict_latency" 2000 2>&1 | grep -E "RESULT|predict_latency"
    echo "== the same without the dense chain (KILN_CUDA_CHAIN=0: 3 products, 2 kernels): A/B"
    DEVICE=cuda KILN_CUDA_CHAIN=0 timeout 20 "$C/bin/predict_latency" 2000 2>&1 | grep -E "RESULT|predict_latency"
    [ $TORCH = 1 ] && DEVICE=cuda timeout 45 python3 "$C/bench/torch_predict_latency.py" 2000 2>&1 | grep RESULT
  fi
  if [ $TORCH = 1 ]; then
    echo "== PyTorch baseline (torch_gpu_baseline.py: s per epoch of 60000 rows; wide_bf16_* autocast's wide MLP)"
    timeout 95 python3 "$C/bench/torch_gpu_baseline.py" 2>&1 | tail -2
  fi
fi

if [ "$PART" = 2 ] || [ "$PART" = all ]; then
  if [ -d "$FMNIST" ]; then
    # docs/cuda.md, "Convolutions": keep the faster as the default (the direct kernels: one epoch, to compare)
    fit "CNN 3 epochs, im2col + cuBLASLt (issue 10: <= 0.6 s/epoch, the median)" timeout 45 \
      "$C/bin/kiln" train models/cnn.json --data fashion-mnist --device cuda --epochs 3 --json --quiet
    fit "CNN 1 epoch, KILN_CUDA_CONV=direct" KILN_CUDA_CONV=direct timeout 35 \
      "$C/bin/kiln" train models/cnn.json --data fashion-mnist --device cuda --epochs 1 --json --quiet
    fit "CNN 1 epoch, im2col + cuBLASLt in TF32 (KILN_CUDA_TF32=1, PyTorch's allow_tf32): A/B" KILN_CUDA_TF32=1 timeout 30 \
      "$C/bin/kiln" train models/cnn.json --data fashion-mnist --device cuda --epochs 1 --json --quiet
    if [ $TORCH = 1 ]; then
      echo "== PyTorch CNN (torch_cnn.py, 3 epochs, batch 128)"
      timeout 50 python3 "$C/bench/torch_cnn.py" 3 128 2>&1 | tail -1
    fi
    echo "== CNN single-image predict, host in and host out (issue 10: <= 50 us)"
    DEVICE=cuda timeout 30 "$C/bin/predict_latency" 2000 1 models/cnn.json 2>&1 | grep -E "RESULT|predict_latency"
    [ $TORCH = 1 ] && MODEL=cnn DEVICE=cuda timeout 45 python3 "$C/bench/torch_predict_latency.py" 2000 2>&1 | grep RESULT
  fi
  echo "== wide MLP 784-8192x3-10, batch 8192, Adam (issue 11: bf16 >= 1.1x PyTorch autocast's wide_bf16_tflops)"
  timeout 20 "$C/bin/gpu_step" cuda wide fp32 5 2>&1 | tail -1
  timeout 25 "$C/bin/gpu_step" cuda wide bf16 20 2>&1 | tail -1
  echo "== test_nccl (a one-rank NCCL communicator: the all-reduce and the broadcast on the device)"
  timeout 15 "$C/bin/test_nccl" 2>&1 | tail -6; echo "exit ${PIPESTATUS[0]}"
  if command -v compute-sanitizer >/dev/null && [ "${SANITIZE:-1}" = 1 ]; then
    echo "== compute-sanitizer memcheck (test_cuda_ops)"
    timeout 70 compute-sanitizer --tool memcheck --error-exitcode 9 "$C/bin/test_cuda_ops" 2>&1 | tail -8
    echo "exit ${PIPESTATUS[0]}"
  fi
fi
