#!/usr/bin/env bash
# The main job: install dependencies, build, and generate text with the bundled model on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh dllm
model="${DLLM_MODEL:-models/llada-tiny}"
prompt="${1:-What is the capital of France?}"
./build/bin/dllm generate --model "$model" --prompt "$prompt" --gen-length 32 --block-length 8 --steps 16
