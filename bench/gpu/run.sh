#!/bin/bash
# run.sh — run THERE, on the lent GPU machine, from the repo root, after bench/gpu/prepare.sh
# here: the CUDA backend's tests (every op against the CPU backend, CUDA-graph replay against
# launches), compute-sanitizer when present, then the reference MLP's training step on
# cuda and cpu beside PyTorch's, as a short table, and one epoch of the CNN (models/cnn.json)
# on the direct convolution kernels and on im2col + cuBLASLt (the default). Builds nothing;
# its timeouts add up to 500 s.
# usage: bench/gpu/run.sh [CARRY_DIR]
set -uo pipefail
C=${1:-build-gpu-carry}
export LD_LIBRARY_PATH="$PWD/$C/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export FMNIST="$PWD/$C/fashion-mnist"
echo "== device"; nvidia-smi -L 2>&1 | head -2
echo "== test_cuda_ops"
timeout 90 "$C/bin/test_cuda_ops" 2>&1 | tail -40; echo "exit ${PIPESTATUS[0]}"
if command -v compute-sanitizer >/dev/null && [ "${SANITIZE:-1}" = 1 ]; then
  echo "== compute-sanitizer memcheck (test_cuda_ops)"
  timeout 70 compute-sanitizer --tool memcheck --error-exitcode 9 "$C/bin/test_cuda_ops" 2>&1 | tail -15
  echo "exit ${PIPESTATUS[0]}"
fi
echo "== test_nccl (a one-rank NCCL communicator: the gradient all-reduce and the broadcast on the device)"
timeout 20 "$C/bin/test_nccl" 2>&1 | tail -8; echo "exit ${PIPESTATUS[0]}"
echo "== kiln: reference MLP training step (784-64-64-10, Adam), random batch"
timeout 50 "$C/bin/gpu_step" cuda 3000 2>&1 | tee /tmp/kiln_cuda.txt
timeout 15 "$C/bin/gpu_step" cpu 300 2>&1 | tee /tmp/kiln_cpu.txt
echo "== kiln: wide MLP 784-8192-8192-8192-10, batch 8192, Adam (issue 11: bf16 must beat torch autocast by 1.1x)"
timeout 20 "$C/bin/gpu_step" cuda wide fp32 5 2>&1 | tail -2
timeout 30 "$C/bin/gpu_step" cuda wide bf16 20 2>&1 | tail -2
if [ -d "$FMNIST" ]; then
  echo "== kiln: the reference MLP fitted on the device (kiln train --device cuda, 2 epochs)"
  KILN_DATA="$PWD/$C" timeout 50 "$C/bin/kiln" train models/mlp.json --data fashion-mnist --device cuda \
    --epochs 2 --json --quiet 2>&1 | tail -2
  echo "exit ${PIPESTATUS[0]}"
  # convolutions (docs/cuda.md, item 4): keep the faster as the default
  for conv in direct gemm; do
    echo "== kiln: CNN (models/cnn.json) 1 epoch on the device, KILN_CUDA_CONV=$conv"
    KILN_CUDA_CONV=$conv KILN_DATA="$PWD/$C" timeout 40 "$C/bin/kiln" train models/cnn.json --data fashion-mnist \
      --device cuda --epochs 1 --json --quiet 2>&1 | tail -2
    echo "exit ${PIPESTATUS[0]}"
  done
fi
if python3 -c "import torch" 2>/dev/null && [ -d "$FMNIST" ]; then
  echo "== PyTorch baseline (torch_gpu_baseline.py; s per epoch of 60000 rows; wide_bf16_* is autocast's wide MLP)"
  timeout 95 python3 "$C/bench/torch_gpu_baseline.py" 2>&1 | tail -3
else
  echo "== PyTorch baseline skipped (no torch, or no $FMNIST)"
fi
echo "== table: us per training step"
printf "%-8s %-10s %-10s\n" batch "kiln-cuda" "kiln-cpu"
for b in 32 128 1024; do
  gc=$(awk -v b=$b '$3==b":" {print $4}' /tmp/kiln_cuda.txt); cc=$(awk -v b=$b '$3==b":" {print $4}' /tmp/kiln_cpu.txt)
  printf "%-8s %-10s %-10s\n" $b "${gc:--}" "${cc:--}"
done
echo "(PyTorch: s/epoch / (60000 / batch) = s per step, from its line above)"
