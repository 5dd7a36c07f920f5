#!/bin/sh
# deps.sh — installs what kiln needs to build, test and run on Debian 12, with
# apt-get install -y; does nothing (and needs no network or root) when all is present.
set -eu

PACKAGES="cmake make ninja-build gcc pkg-config libopenblas-dev libcjson-dev libxxhash-dev libpng-dev zlib1g-dev libomp-dev dataset-fashion-mnist"
# python3-numpy: tests read .kiln files with a plain numpy safetensors reader.
PACKAGES="$PACKAGES python3-numpy"
# python3-onnx: test_onnx checks the files kiln export writes with onnx.checker (and runs
# them with numpy, tests/onnx_eval.py).
PACKAGES="$PACKAGES python3-onnx"
# MPI: data-parallel training (mpirun -np N kiln train) and its tests.
PACKAGES="$PACKAGES libopenmpi-dev openmpi-bin"
# Not installed here (large, or only for maintainers): python3-torch regenerates
# tests/golden/ and runs bench/; clang and valgrind run fuzzing and memory checks.

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "deps.sh: need root to install:$missing" >&2; exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $missing
