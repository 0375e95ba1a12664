#!/usr/bin/env bash
# Runs ON the GPU machine: every GPU test binary and the CUDA benchmark of a bundle made by
# tools/make-gpu-bundle.sh, then prints the benchmark table and a summary table (last).
#
#   bash .devbundle/gpu-check.sh .devbundle [--quick]     (--quick: short benchmark)
#
# Exit status: 0 when every test binary passed (skips count as failures here: the GPU is the
# point) and the benchmark ran. When $OUT is set, the whole log is copied to $OUT/gpu-check.log.
set -uo pipefail
bundle=$(cd "${1:-.devbundle}" && pwd)
quick=""
[ "${2:-}" = "--quick" ] && quick="--quick"
# shellcheck disable=SC1091
source "$bundle/env.sh"
export DLLM_GOLDEN_DIR="$bundle/golden"
# models/llada-tiny (fp32), bundled: the prefilling reuse end-to-end test and CLI runs read it.
[ -d "$bundle/models/llada-tiny" ] && export DLLM_TINY_MODEL="$bundle/models/llada-tiny"

# shellcheck disable=SC1091
source "$bundle/gpu-runtime-env.sh"

logs=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
  sed 's/^/gpu: /'

summary=()
status=0
for bin in "$bundle"/bin/cuda_*_test; do
  name=$(basename "$bin")
  start=$(date +%s)
  "$bin" --gtest_brief=1 >"$logs/$name.log" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  passed=$(grep -oE '^\[  PASSED  \] [0-9]+' "$logs/$name.log" | grep -oE '[0-9]+$' || true)
  failed=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$logs/$name.log" | grep -oE '[0-9]+' || true)
  skipped=$(grep -oE '^\[  SKIPPED \] [0-9]+' "$logs/$name.log" | grep -oE '[0-9]+$' || true)
  result=ok
  if [ "$rc" -ne 0 ]; then result="FAIL(rc=$rc)"; status=1; fi
  if [ "${skipped:-0}" -gt 0 ]; then result="$result,skips"; status=1; fi
  if [ "$rc" -ne 0 ] || [ "${skipped:-0}" -gt 0 ]; then
    echo "=== $name (rc=$rc) ==="
    tail -n 60 "$logs/$name.log"
  fi
  summary+=("$(printf '%-26s %-16s %6s %6s %7s %6ss' "$name" "$result" "${passed:-0}" \
    "${failed:-0}" "${skipped:-0}" "$secs")")
done

# End to end: `dllm generate --device cuda` gives the CPU's tokens on the golden fp32 checkpoints.
e2e_ok=0
e2e_total=0
for spec in "llada-tiny/checkpoint:--gen-length 32 --block-length 8 --steps 16" \
  "llada-tiny/checkpoint:--gen-length 32 --block-length 8 --steps 16 --cache dual" \
  "llada-tiny/checkpoint:--gen-length 32 --block-length 8 --threshold 0.5 --cache prefix" \
  "dream-tiny/checkpoint:--gen-length 32 --steps 16 --alg entropy" \
  "dream-tiny/checkpoint:--gen-length 32 --steps 16 --alg maskgit_plus --cache dual --block-length 8"; do
  dir="$bundle/golden/${spec%%:*}"
  args="${spec#*:}"
  e2e_total=$((e2e_total + 1))
  cpu=$("$bundle/bin/dllm" generate --model "$dir" --prompt-ids 5,17,99,230,41,7,300,12 $args \
    --print-ids --device cpu 2>>"$logs/e2e.log" | tail -n 1)
  gpu=$("$bundle/bin/dllm" generate --model "$dir" --prompt-ids 5,17,99,230,41,7,300,12 $args \
    --print-ids --device cuda 2>>"$logs/e2e.log" | tail -n 1)
  if [ -n "$cpu" ] && [ "$cpu" = "$gpu" ]; then
    e2e_ok=$((e2e_ok + 1))
  else
    echo "e2e mismatch ($spec): cpu=$cpu gpu=$gpu"
    status=1
  fi
done
# Prefilling-dLLM reuse mode (stitched chunk K/V), with and without token sparsity, on the fp32
# bundled tiny model: CUDA must give the CPU's tokens.
context="The old lighthouse keeper counted ships every evening. In spring the harbour filled \
with fishing boats, and in autumn the grain barges came down the river. One night a storm broke \
the great lamp, and the keeper climbed the tower with a lantern to guide the last boat home. The \
town remembered him for years, and children still tell the story of the lantern in the tower."
for args in "--chunk-mode reuse" "--chunk-mode reuse --token-capacity 12" \
  "--chunk-mode reuse --token-capacity 10 --token-select per-head --cache prefix"; do
  [ -x "$bundle/bin/dllm" ] && [ -n "${DLLM_TINY_MODEL:-}" ] || break
  e2e_total=$((e2e_total + 1))
  run() {
    "$bundle/bin/dllm" generate --model "$DLLM_TINY_MODEL" --prompt "Who guided the boat?" \
      --context "$context" --policy prefilling --chunk-size 32 --top-k 2 $args --gen-length 16 \
      --block-length 8 --steps 16 --print-ids --device "$1" 2>>"$logs/e2e.log" | tail -n 1
  }
  cpu=$(run cpu)
  gpu=$(run cuda)
  if [ -n "$cpu" ] && [ "$cpu" = "$gpu" ]; then
    e2e_ok=$((e2e_ok + 1))
  else
    echo "e2e mismatch (prefilling $args): cpu=$cpu gpu=$gpu"
    status=1
  fi
done
summary+=("$(printf '%-26s %-16s %6s %6s %7s %6ss' dllm-generate-cpu-vs-cuda \
  "$([ $e2e_ok -eq $e2e_total ] && echo ok || echo FAIL)" "$e2e_ok" $((e2e_total - e2e_ok)) 0 -)")

bench="$bundle/bin/dllm-bench-cuda-ops"
start=$(date +%s)
"$bench" $quick >"$logs/bench.log" 2>&1
rc=$?
secs=$(($(date +%s) - start))
echo "=== dllm-bench-cuda-ops ==="
cat "$logs/bench.log"
bresult=ok
if [ "$rc" -ne 0 ]; then bresult="FAIL(rc=$rc)"; status=1; fi
summary+=("$(printf '%-26s %-16s %6s %6s %7s %6ss' dllm-bench-cuda-ops "$bresult" - - - "$secs")")

if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  for f in "$logs"/*.log; do
    echo "===== $(basename "$f")"
    cat "$f"
  done >"$OUT/gpu-check.log"
fi

echo
echo "=== summary ==="
printf '%-26s %-16s %6s %6s %7s %7s\n' binary result passed failed skipped time
printf '%s\n' "${summary[@]}"
exit "$status"
