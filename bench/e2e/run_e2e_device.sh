#!/usr/bin/env bash
# Runs ON the GPU machine (one call): the end-to-end policy table of `dllm-bench step --mode e2e`
# for the LLaDA-8B and Dream-7B shapes, from the bundle of tools/make-e2e-bundle.sh carried as
# .carry-e2e. Full logs go to $OUT; the two tables come last.
#
#   bash bench/e2e/run_e2e_device.sh [SHAPES (llada-8b,dream-7b)] [DEADLINE_S per shape (300)]
# Env: E2E_POLICIES, E2E_PROMPTS (8192,16384,32768,65536,131072), E2E_FULL_MAX (8192: longer
# prompts run the first block of dense and vanilla requests and extrapolate), E2E_VARIANT8=1
# (also LLaDA-8B prefilling at 32K with --variant-batch 8, the scoring batches before d3cec09).
set -uo pipefail
out=${OUT:-$(mktemp -d)}
shapes=${1:-llada-8b,dream-7b}
deadline=${2:-300}
prompts=${E2E_PROMPTS:-8192,16384,32768,65536,131072}
policies=${E2E_POLICIES:-vanilla,dense,prefilling,prefilling-reuse,focus,prefilling+focus}
mkdir -p /tmp/e2e && xz -dc .carry-e2e/bundle.tar.xz | tar xf - -C /tmp/e2e
bundle=/tmp/e2e/.devbundle-e2e
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for lib in libcudart.so.13 libcublasLt.so.13; do
  if ! ldconfig -p 2>/dev/null | grep -q "$lib"; then
    found=$(find /usr/local/cuda/lib64 /usr/local/cuda/targets /usr/lib /opt /usr/local/lib \
      -name "$lib*" -print -quit 2>/dev/null)
    [ -n "$found" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$found")"
  fi
done
date -u '+date: %Y-%m-%d %H:%M UTC'
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm \
  --format=csv 2>/dev/null

rc=0
for shape in ${shapes//,/ }; do
  echo "=== dllm-bench step --mode e2e --synthetic-weights $shape --prompts $prompts"
  "$bundle/bin/dllm-bench" step --mode e2e --device cuda --synthetic-weights "$shape" \
    --prompts "$prompts" --gen 256 --block 32 --threshold 0.9 --full-max "${E2E_FULL_MAX:-8192}" --sample-blocks 1 \
    --vanilla-steps 1 --policies "$policies" --deadline "$deadline" 2>&1 | tee "$out/e2e-$shape.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
done
# Selection before the leave-one-out variants were batched apart from the chunks (8 a forward).
if [[ $shapes == *llada-8b* && ${E2E_VARIANT8:-0} == 1 ]]; then
  echo "=== LLaDA-8B prefilling at 32K with --variant-batch 8 (the old scoring batches)"
  "$bundle/bin/dllm-bench" step --mode e2e --device cuda --synthetic-weights llada-8b \
    --prompts 32768 --threshold 0 --policies prefilling --variant-batch 8 2>&1 |
    tee "$out/e2e-variant8.log" | grep -E '^ +32768|^model|^llada'
fi

echo "=== tables"
for shape in ${shapes//,/ }; do
  sed -n '/^model /,$p' "$out/e2e-$shape.log"
done
exit $rc
