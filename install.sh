#!/usr/bin/env bash
# Creates .venv and installs editseq into it, building llama-cpp-python from source (~11 min on
# 2 cores the first time; pip caches the wheel afterwards).
#   ./install.sh          the editor/CLI install
#   ./install.sh test     plus the test tools        ./install.sh train   plus torch & co.
# EDITSEQ_GPU=cuda ./install.sh builds llama.cpp with CUDA (then set the gpuLayers option).
set -euo pipefail
cd "$(dirname "$0")"
extra="${1:-}"
# A portable CPU build: -march=native can enable AMX kernels that crash where the kernel or a
# virtual machine does not grant AMX tiles (seen on this project's machines), so pick AVX2 explicitly.
cpu_flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
case "${EDITSEQ_GPU:-}" in
  cuda) cpu_flags="$cpu_flags -DGGML_CUDA=on" ;;
  metal) cpu_flags="-DGGML_METAL=on" ;;
esac
export CMAKE_ARGS="${CMAKE_ARGS:-$cpu_flags}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
echo "installing editseq${extra:+[$extra]} (building llama-cpp-python if not cached: ~11 min on 2 cores)" >&2
.venv/bin/python -m pip install --progress-bar off -e ".${extra:+[$extra]}"
# The default model with its adapter folded in, built once into the user cache (a few seconds),
# so that the server's first start does not pay for it.
.venv/bin/python -m editseq.runtime.merge >&2 || echo "install.sh: could not prepare the merged model; the server will build it on first start" >&2
