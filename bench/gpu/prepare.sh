#!/bin/bash
# prepare.sh — run HERE (no GPU): builds kiln with the CUDA backend for Hopper and fills
# build-gpu-carry/ (git-ignored by build-*/) with what bench/gpu/run.sh needs on the lent
# GPU machine, which has the CUDA 13 toolkit and driver but no cJSON and no compiler time
# to spare: the binaries, the shared libraries it lacks, the PyTorch baselines and, when
# present here, Fashion-MNIST. Then, with the device tool:
#   run(command="set -o pipefail; bench/gpu/run.sh all 2>&1 | tee $OUT/log",
#       carry=["build-gpu-carry"], timeout_s=590)
# (the binaries travel as bin.tar.xz, which run.sh unpacks there)
# usage: bench/gpu/prepare.sh [FMNIST_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build-gpu
C=build-gpu-carry
# MPI off: the carried binaries then need no OpenMPI of the same version there
cmake -S . -B $B -DKILN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DKILN_MPI=OFF -DKILN_WERROR=ON >/dev/null
cmake --build $B -j2 --target kiln_cli test_cuda_ops test_nccl test_golden test_resident test_rnn test_embedding test_attention test_masks test_rnn_dropout test_time_distributed test_prelu test_noise test_depthwise test_separable test_resize test_conv_transpose test_label_smoothing test_grouped_conv test_broadcast_merge test_permute test_group_norm test_activation_layers test_dot_attention test_masking test_unit_norm test_repeat_vector test_volume gpu_step predict_latency >/dev/null
rm -rf $C && mkdir -p $C/bin $C/lib $C/bench
cp $B/kiln $B/tests/test_cuda_ops $B/tests/test_nccl $B/tests/test_golden $B/tests/test_resident $B/tests/test_rnn $B/tests/test_embedding $B/tests/test_attention $B/tests/test_masks $B/tests/test_rnn_dropout $B/tests/test_time_distributed $B/tests/test_prelu $B/tests/test_noise $B/tests/test_depthwise $B/tests/test_separable $B/tests/test_resize $B/tests/test_conv_transpose $B/tests/test_label_smoothing $B/tests/test_grouped_conv $B/tests/test_broadcast_merge $B/tests/test_permute $B/tests/test_group_norm $B/tests/test_activation_layers $B/tests/test_dot_attention $B/tests/test_masking $B/tests/test_unit_norm $B/tests/test_repeat_vector $B/tests/test_volume $B/bench/gpu_step $B/bench/predict_latency $C/bin/
# symbols off (about 130 KB a binary)
strip $C/bin/*
# the libraries outside the C runtime and CUDA (whose own the GPU machine has)
for lib in $(ldd $C/bin/* | awk '/=>/ {print $3}' | sort -u); do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libgcc_s*|libstdc++*|libcuda*|libcublas*|libcudart*) ;;
    *) cp -L "$lib" $C/lib/ ;;
  esac
done
cp /work/shared/bench/torch_gpu_baseline.py /work/shared/bench/torch_cnn.py $C/bench/ 2>/dev/null || true
cp bench/torch_predict_latency.py $C/bench/
nvcc -O2 -arch=sm_90 bench/gpu/latency_probe.cu -o $C/bin/latency_probe
nvcc -O3 -arch=sm_90 -std=c++17 -Isrc -Isrc/backend/cuda -Iinclude bench/gpu/layer_probe.cu -o $C/bin/layer_probe
FM=${1:-data/fashion-mnist}
[ -f "$FM/train-images-idx3-ubyte.gz" ] || FM=/usr/share/datasets/fashion-mnist
if [ -f "$FM/train-images-idx3-ubyte.gz" ]; then mkdir -p $C/fashion-mnist && cp "$FM"/*.gz $C/fashion-mnist/; fi
# the binaries as one xz archive: each links the whole of libkiln with its CUDA code, so seven
# copies took 35 MB of the 64 MiB carry; xz's 64 MiB window stores the shared part once (2.3 MB).
# run.sh unpacks it there before anything else.
tar -C $C -cf - bin | xz -9 -T1 > $C/bin.tar.xz
rm -rf $C/bin
du -sh $C
bytes=$(du -sb $C | cut -f1)
if [ "$bytes" -gt 67108864 ]; then echo "prepare.sh: $C is $bytes bytes, past the device tool's 64 MiB carry" >&2; exit 1; fi
echo "$C: $bytes bytes of 67108864 the carry allows"
