#!/bin/bash
# rehearse.sh — run HERE, without a GPU: bench/gpu/run.sh part 1 against the CUDA emulator
# (tests/cuda_emu), so the GPU session's script is known to run end to end (paths, options,
# the parsing of each line, the knobs' equal final losses) before a lent GPU's minutes are
# spent on it. Its times are the emulator's (about 50 s an MLP epoch) and mean nothing; the
# fits run 1 epoch and PyTorch is left out. About 8 minutes on 2 cores.
# usage: bench/gpu/rehearse.sh [1|2]   (2: the CNN fits alone would take hours; it runs the
#        wide MLP at width 256 and test_nccl)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build-emu
C=build-emu-carry
cmake -S . -B $B -DKILN_CUDA_EMU=ON >/dev/null
cmake --build $B -j2 --target kiln_cli test_cuda_ops test_nccl test_golden test_resident test_rnn test_embedding test_attention test_masks gpu_step predict_latency >/dev/null
rm -rf $C && mkdir -p $C/bin $C/lib $C/bench
cp $B/kiln $B/tests/test_cuda_ops $B/tests/test_nccl $B/tests/test_golden $B/tests/test_resident $B/tests/test_rnn $B/tests/test_embedding $B/tests/test_attention $B/tests/test_masks $B/bench/gpu_step $B/bench/predict_latency $C/bin/
[ -d /usr/share/datasets/fashion-mnist ] && ln -s /usr/share/datasets/fashion-mnist $C/fashion-mnist
if [ "${1:-1}" = 2 ]; then
  WIDE_WIDTH=256 WIDE_BATCH=256 RUN_TORCH=0 SANITIZE=0 bench/gpu/run.sh 2 $C 2>&1 | grep -v "^== CNN\|FAILED: .*timeout" || true
else
  RUN_TORCH=0 EPOCHS=1 FIT_TIMEOUT=200 bench/gpu/run.sh 1 $C
fi
