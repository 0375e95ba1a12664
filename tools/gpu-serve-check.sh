#!/usr/bin/env bash
# Runs ON the GPU machine, from a bundle made by tools/make-gpu-bundle.sh: router + prefill node +
# decode node as separate processes with --device cuda, K/V between them over each transport
# (cuda_ipc: GPU memory to GPU memory; ucx: staged through the host), and checks that every
# served answer equals `dllm generate --device cuda` token for token (and says whether it also
# equals the CPU's). Prints one table row per (transport, policy) and exits non-zero on a mismatch.
#
#   bash .devbundle/gpu-serve-check.sh .devbundle
set -uo pipefail
bundle=$(cd "${1:-.devbundle}" && pwd)
# shellcheck disable=SC1091
source "$bundle/env.sh"
# shellcheck disable=SC1091
source "$bundle/gpu-runtime-env.sh"
dllm="$bundle/bin/dllm"
model="$bundle/models/llada-tiny"
logs=$(mktemp -d)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop_all EXIT

# shellcheck source=tools/start-process.sh
source "$(dirname "${BASH_SOURCE[0]}")/start-process.sh"
# Starts a process in the background and waits (≤ 60 s: CUDA start-up) for `marker` in its log.
start() { start_process gpu-serve-check 600 "$@"; }

context="The old lighthouse keeper counted ships every evening. In spring the harbour filled \
with fishing boats, and in autumn the grain barges came down the river. One night a storm broke \
the great lamp, and the keeper climbed the tower with a lantern to guide the last boat home. The \
town remembered him for years, and children still tell the story of the lantern in the tower."
common=(--gen-length 16 --block-length 8 --steps 16 --print-ids)
declare -A policies=(
  [dense]="--prompt|Who guided the boat home?"
  [prefilling-reuse]="--prompt|Who guided the boat?|--context|$context|--policy|prefilling|--chunk-size|32|--top-k|2|--chunk-mode|reuse"
  [prefilling-reprefill]="--prompt|Who guided the boat?|--context|$context|--policy|prefilling|--chunk-size|32|--top-k|2|--chunk-mode|reprefill"
)

status=0
rows=()
device="${DLLM_SERVE_DEVICE:-cuda}"  # cpu: a dry run of this script on a machine without a GPU
for transport in ${DLLM_SERVE_TRANSPORTS:-cuda_ipc ucx}; do
  stop_all
  start router "serving role router" "$dllm" serve --role router --model "$model" \
    --listen 127.0.0.1:0 || { status=1; continue; }
  router=$(sed -n 's/.*serving role router on //p' "$logs/router.log" | head -1)
  start prefill "registered with router" "$dllm" serve --role prefill --model "$model" \
    --device "$device" --router "$router" --node-id prefill-gpu --transport "$transport" ||
    { status=1; continue; }
  start decode "registered with router" "$dllm" serve --role decode --model "$model" \
    --device "$device" --router "$router" --node-id decode-gpu --transport "$transport" ||
    { status=1; continue; }
  for name in dense prefilling-reuse prefilling-reprefill; do
    IFS='|' read -r -a args <<<"${policies[$name]}"
    gpu=$("$dllm" generate --model "$model" --device "$device" "${args[@]}" "${common[@]}" \
      2>>"$logs/generate.log" | tail -n 1)
    cpu=$("$dllm" generate --model "$model" --device cpu "${args[@]}" "${common[@]}" \
      2>>"$logs/generate.log" | tail -n 1)
    t0=$(date +%s%N)
    served=$("$dllm" client --router "$router" "${args[@]}" "${common[@]}" \
      2>>"$logs/client.log" | tail -n 1)
    ms=$((($(date +%s%N) - t0) / 1000000))
    kv=$(grep -o 'kv_bytes=[0-9]*' "$logs/decode.log" | tail -n 1 | cut -d= -f2)
    verdict=ok
    if [ -z "$served" ] || [ "$served" != "$gpu" ]; then verdict=MISMATCH; status=1; fi
    rows+=("$(printf '%-9s %-21s %-10s %-10s %14s %9s' "$transport" "$name" "$verdict" \
      "$([ "$served" = "$cpu" ] && echo yes || echo no)" "${kv:-0}" "$ms")")
    [ "$verdict" = ok ] || echo "served=$served gpu=$gpu cpu=$cpu ($transport $name)"
  done
done
stop_all
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  for f in "$logs"/*.log; do cp "$f" "$OUT/serve-$(basename "$f")"; done
fi
[ "$status" -eq 0 ] || tail -n 30 "$logs"/*.log
printf '%-9s %-21s %-10s %-10s %14s %9s\n' transport policy served=gpu served=cpu \
  kv_bytes_last client_ms
printf '%s\n' "${rows[@]}"
exit "$status"
