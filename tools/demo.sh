#!/usr/bin/env bash
# The main job: install dependencies, build, start router + prefill node + decode node as
# separate processes on loopback with the bundled model on CPU, send a real request through
# `dllm client` (answer streamed block by block), and shut everything down cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh dllm
model="${DLLM_MODEL:-models/llada-tiny}"
prompt="${1:-What is the capital of France?}"
dllm=./build/bin/dllm
logs="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# shellcheck source=tools/start-process.sh
source tools/start-process.sh
# Starts a process in the background and waits (≤ 20 s) for its stderr to show `marker`.
start() { start_process demo 200 "$@" || exit 1; }

start router "serving role router" "$dllm" serve --role router --model "$model" --listen 127.0.0.1:0
router_addr="$(sed -n 's/.*serving role router on //p' "$logs/router.log" | head -1)"
start prefill "registered with router" "$dllm" serve --role prefill --model "$model" \
  --router "$router_addr" --node-id prefill-0 --transport ucx
start decode "registered with router" "$dllm" serve --role decode --model "$model" \
  --router "$router_addr" --node-id decode-0
echo "demo: router on $router_addr, prefill-0 and decode-0 registered; asking: $prompt" >&2
"$dllm" client --router "$router_addr" --prompt "$prompt" --gen-length 32 --block-length 8 --steps 16
