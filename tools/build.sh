#!/usr/bin/env bash
# Configures and builds dllm-serve into build/ (Release-like, warnings as errors in CI).
# Arguments, if any, are the targets to build (default: everything).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${DLLM_BUILD_JOBS:-$(nproc)}"
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
# DLLM_CUDA=OFF builds without the CUDA targets even where nvcc is found.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLLM_WERROR="$werror" \
  -DDLLM_ENABLE_CUDA="${DLLM_CUDA:-ON}" >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j "$jobs" "${targets[@]}"
