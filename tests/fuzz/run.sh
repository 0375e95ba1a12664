#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, ccache) into build-fuzz/ and runs each for
# SECONDS (default 60) on its committed seed corpus, DLLM_FUZZ_PARALLEL targets at a time (default
# 2: one per core of the CI machine; 9 targets x 60 s take about 5 minutes); any finding fails
# the run (exit status 1). Long campaigns (10 million executions a target): campaign.sh.
#   tests/fuzz/run.sh [seconds] [target...]      (targets: tests/fuzz/CMakeLists.txt)
# Environment: DLLM_FUZZ_BUILD_DIR (default build-fuzz), DLLM_BUILD_JOBS (default nproc),
# DLLM_FUZZ_KEEP_CORPUS=1 to grow build-fuzz/corpus/<target> across runs instead of starting
# from the seeds each time, DLLM_FUZZ_ARGS for extra libFuzzer flags (e.g. -runs=N).
# A finding is written to build-fuzz/findings/<target>/; reproduce it with
#   build-fuzz/bin/fuzz_<target> build-fuzz/findings/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-60}"
[ $# -gt 0 ] && shift
all_targets=(safetensors_header safetensors_index model_config tokenizer_json vocab_merges
             tokenizer_encode chat_template router_request engine_request)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
build="${DLLM_FUZZ_BUILD_DIR:-build-fuzz}"
jobs="${DLLM_BUILD_JOBS:-$(nproc)}"

# The kernels' AVX lanes (kernels/cpu) need -mavx under clang; the fuzzers never run them.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DDLLM_BUILD_FUZZERS=ON \
  -DDLLM_BUILD_TESTS=OFF -DDLLM_ENABLE_CUDA=OFF -DDLLM_CPU_ARCH_FLAGS=-mavx >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "fuzz_$t"); done
cmake --build "$build" -j "$jobs" "${build_targets[@]}"

parallel="${DLLM_FUZZ_PARALLEL:-2}"
[ "$parallel" -ge 1 ] || parallel=1

# One target for $seconds; its exit status (0 or a finding) goes to $build/fuzz-$t.status.
fuzz_one() {
  local t=$1
  local seeds="tests/fuzz/corpus/$t" work="$build/corpus/$t" findings="$build/findings/$t"
  local log="$build/fuzz-$t.log" dict=() rc=0
  [ "${DLLM_FUZZ_KEEP_CORPUS:-0}" = "1" ] || rm -rf "$work"
  mkdir -p "$work" "$findings"
  [ -f "tests/fuzz/dict/$t.dict" ] && dict=("-dict=tests/fuzz/dict/$t.dict")
  echo "fuzz: $t for ${seconds}s (log $log)"
  # New inputs go to $work; the committed seeds are only read. One process (one core) a target.
  # shellcheck disable=SC2086
  "$build/bin/fuzz_$t" "$work" "$seeds" "${dict[@]}" -max_total_time="$seconds" \
      -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" \
      ${DLLM_FUZZ_ARGS:-} >"$log" 2>&1 || rc=$?
  echo "$rc" >"$build/fuzz-$t.status"
}

running=0
for t in "${targets[@]}"; do
  rm -f "$build/fuzz-$t.status"
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait

failed=()
summary=()
for t in "${targets[@]}"; do
  log="$build/fuzz-$t.log"
  rc=$(cat "$build/fuzz-$t.status" 2>/dev/null || echo missing)
  if [ "$rc" = 0 ]; then
    status=ok
  else
    status=FINDING
    failed+=("$t")
    echo "fuzz: $t exited with status $rc; the end of $log:" >&2
    tail -n 40 "$log" >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  summary+=("$(printf '%-20s %-8s execs %-10s exec/s %-6s %s' "$t" "$status" "${execs:-?}" \
    "${rate:-?}" "${cov:-}")")
done

printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs under $build/findings/)" >&2
  exit 1
fi
