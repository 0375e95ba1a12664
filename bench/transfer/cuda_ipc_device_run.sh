#!/usr/bin/env bash
# Runs ON the GPU machine: the cuda_ipc transport test and `dllm-bench-transfer --cuda-ipc` of a
# bundle made by tools/make-transfer-bundle.sh. Logs go to $OUT (when set); the benchmark tables
# and a summary come last.
#
#   bash .ipcbundle/cuda_ipc_device_run.sh .ipcbundle [gtest flags for the test]
set -uo pipefail
bundle=$(cd "${1:-.ipcbundle}" && pwd)
shift || true
out=${OUT:-$(mktemp -d)}
# shellcheck disable=SC1091
source "$bundle/env.sh"
# The CUDA runtime is the machine's own (device-bundle.sh leaves it out).
if ! ldconfig -p 2>/dev/null | grep -q libcudart.so.13; then
  found=$(find /usr/local/cuda/lib64 /usr/local/cuda/targets /usr/lib /opt /usr/local/lib \
    -name 'libcudart.so.13*' -print -quit 2>/dev/null)
  [ -n "$found" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$found")"
fi
date -u '+date: %Y-%m-%d %H:%M UTC'
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem \
  --format=csv 2>/dev/null

echo "=== cuda_ipc_transport_test"
start=$(date +%s)
timeout 300 "$bundle/bin/cuda_ipc_transport_test" "$@" >"$out/cuda_ipc_test.log" 2>&1
test_rc=$?
test_secs=$(($(date +%s) - start))
grep -vE '^\[ +(RUN|OK) +\]' "$out/cuda_ipc_test.log" | tail -n 60
echo "token tables left in /dev/shm: $(ls /dev/shm 2>/dev/null | grep -c dllm-cuda-ipc)"

bench() {
  echo "=== dllm-bench-transfer --cuda-ipc $*"
  timeout 180 "$bundle/bin/dllm-bench-transfer" --cuda-ipc "$@" 2>&1 | tee -a "$out/cuda_ipc_bench.log"
  return "${PIPESTATUS[0]}"
}
bench_rc=0
bench || bench_rc=1
bench || bench_rc=1  # twice: the spread between runs is the noise
bench --sizes-mib 1,4 --iters 50 || bench_rc=1  # small pulls: the fixed costs

echo "=== summary"
echo "cuda_ipc_transport_test rc=$test_rc (${test_secs}s): $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$out/cuda_ipc_test.log" | tr '\n' ' ')"
echo "dllm-bench-transfer --cuda-ipc rc=$bench_rc"
[ "$test_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
