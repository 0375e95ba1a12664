#!/usr/bin/env bash
# A long fuzzing campaign: every target (or those named) until it has run EXECS executions
# (default 10,000,000), spread over JOBS processes (default nproc), the record in
# docs/RELIABILITY.md. Runs already-built binaries (tests/fuzz/run.sh builds them; a machine
# without clang can run a bundle of them, see docs/RELIABILITY.md).
#   tests/fuzz/campaign.sh [target...]
# Environment: DLLM_FUZZ_BIN (default build-fuzz/bin), DLLM_FUZZ_WORK (default
# build-fuzz/campaign), DLLM_FUZZ_EXECS, DLLM_FUZZ_JOBS, DLLM_FUZZ_DEADLINE_S (default 0: none; a
# chunk never runs past this many seconds after the start, so a target may fall short of EXECS,
# which the summary says), DLLM_FUZZ_CONTINUE=DIR to start each target's corpus from DIR/<target>
# (an earlier campaign's WORK/corpus) and go on where it stopped.
#
# Each target's executions are cut into chunks (libFuzzer processes with -runs=CHUNK) sized to
# take about a minute each at the target's speed; a pool of JOBS workers takes the chunks in
# turn, so a fast target's cores go to the slow ones once it is done. A target's chunks share
# one corpus directory (libFuzzer re-reads it every second, -reload=1), the seeds are only read.
# At the end each target's whole corpus is replayed once (-runs=0) for its coverage (cov: and
# ft:, libFuzzer's counters), and SUMMARY.md gets a row per target. Exit status 1 if any
# target found something (inputs under WORK/findings/<target>/), 2 if one fell short of EXECS.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

bin="${DLLM_FUZZ_BIN:-build-fuzz/bin}"
work="${DLLM_FUZZ_WORK:-build-fuzz/campaign}"
execs="${DLLM_FUZZ_EXECS:-10000000}"
jobs="${DLLM_FUZZ_JOBS:-$(nproc)}"
deadline_s="${DLLM_FUZZ_DEADLINE_S:-0}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
case "$work" in /*) ;; *) work="$root/$work" ;; esac

# Executions per chunk: about a minute of each target on its seeds on one idle core of the 2-core
# VM (ASan + UBSan; the tokenizer targets are the slowest, they build a whole tokenizer per
# input). Grown corpora are slower: about 3 minutes a chunk on the H100 machine's cores.
declare -A chunk=(
  [safetensors_header]=1000000 [safetensors_index]=1250000 [model_config]=1000000
  [tokenizer_json]=350000 [vocab_merges]=250000 [tokenizer_encode]=500000
  [chat_template]=1000000 [router_request]=2500000 [engine_request]=5000000)
all_targets=(vocab_merges tokenizer_json tokenizer_encode chat_template model_config
             safetensors_header safetensors_index router_request engine_request)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

rm -rf "$work"
mkdir -p "$work/logs"
start=$(date +%s)
echo "$start" >"$work/start"

# The task list, round robin over the targets (slowest first) so that all of them start early.
tasks="$work/tasks"
: >"$tasks"
declare -A nchunks
for t in "${targets[@]}"; do
  [ -n "${chunk[$t]:-}" ] || { echo "campaign: unknown target $t" >&2; exit 2; }
  [ -x "$bin/fuzz_$t" ] || { echo "campaign: no $bin/fuzz_$t (build it: cmake --build build-fuzz --target fuzz_$t)" >&2; exit 2; }
  size=$(( chunk[$t] < execs ? chunk[$t] : execs ))
  nchunks[$t]=$(( (execs + size - 1) / size ))
  mkdir -p "$work/corpus/$t" "$work/findings/$t"
  if [ -n "${DLLM_FUZZ_CONTINUE:-}" ] && [ -d "$DLLM_FUZZ_CONTINUE/$t" ]; then
    cp -r "$DLLM_FUZZ_CONTINUE/$t/." "$work/corpus/$t/"
  fi
done
for ((i = 0; ; ++i)); do
  added=0
  for t in "${targets[@]}"; do
    n=${nchunks[$t]}
    [ "$i" -lt "$n" ] || continue
    size=$(( (execs + n - 1) / n ))
    echo "$t $i $size" >>"$tasks"
    added=1
  done
  [ "$added" = 1 ] || break
done

run_chunk() {  # target index runs
  local t=$1 i=$2 runs=$3 left=0 dict=()
  local log="$work/logs/$t.$i.log"
  [ -e "$work/findings/$t/.found" ] && return 0       # stop a target at its first finding
  if [ "$deadline_s" -gt 0 ]; then
    left=$(( $(cat "$work/start") + deadline_s - $(date +%s) ))
    [ "$left" -gt 5 ] || { echo "skipped: deadline" >"$log"; return 0; }
  fi
  [ -f "$root/tests/fuzz/dict/$t.dict" ] && dict=("-dict=$root/tests/fuzz/dict/$t.dict")
  local t0 t1
  t0=$(date +%s.%N)
  local before after
  before=$(find "$work/findings/$t" -type f ! -name .found | wc -l)
  if ! "$bin/fuzz_$t" "$work/corpus/$t" "$root/tests/fuzz/corpus/$t" "${dict[@]}" \
      -runs="$runs" -max_total_time="$left" -timeout=30 -rss_limit_mb=2048 -reload=1 \
      -print_final_stats=1 -artifact_prefix="$work/findings/$t/" >"$log" 2>&1; then
    # A finding leaves its input (crash-, leak-, timeout-, oom-...); a failure that leaves
    # none (the machine, not the code) is counted in the summary but does not stop the target.
    after=$(find "$work/findings/$t" -type f ! -name .found | wc -l)
    if [ "$after" -gt "$before" ]; then
      touch "$work/findings/$t/.found"
      echo "campaign: FINDING in $t (chunk $i, log $log)" >&2
    else
      echo "campaign_error: exit without an input" >>"$log"
      echo "campaign: $t chunk $i failed without an input (log $log)" >&2
    fi
  fi
  t1=$(date +%s.%N)
  echo "chunk_seconds: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') start: $t0 end: $t1" >>"$log"
}
export -f run_chunk
export work root bin deadline_s
echo "campaign: ${#targets[@]} targets, $execs execs each, $(wc -l <"$tasks") chunks, $jobs jobs"
xargs -P "$jobs" -L 1 bash -c 'run_chunk "$@"' _ <"$tasks"

# The record: executions, wall time (first chunk's start to last chunk's end), CPU time (the
# chunks' sum), coverage of the whole corpus, findings.
summary="$work/SUMMARY.md"
echo "| target | execs | wall s | core s | exec/s per core | cov | ft | corpus | findings | errors |" >"$summary"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" >>"$summary"
status=0
for t in "${targets[@]}"; do
  logs=("$work"/logs/"$t".*.log)
  total=$(cat "${logs[@]}" | sed -n 's/^stat::number_of_executed_units: *//p' | awk '{s+=$1} END{print s+0}')
  core=$(cat "${logs[@]}" | sed -n 's/^chunk_seconds: \([0-9.]*\).*/\1/p' | awk '{s+=$1} END{printf "%.0f", s}')
  first=$(cat "${logs[@]}" | sed -n 's/.* start: \([0-9.]*\) .*/\1/p' | sort -n | head -n 1)
  last=$(cat "${logs[@]}" | sed -n 's/.* end: \([0-9.]*\)$/\1/p' | sort -n | tail -n 1)
  wall=$(awk -v a="${first:-0}" -v b="${last:-0}" 'BEGIN{printf "%.0f", b - a}')
  rate=$(awk -v e="$total" -v c="$core" 'BEGIN{printf "%.0f", (c > 0 ? e / c : 0)}')
  dict=()
  [ -f "tests/fuzz/dict/$t.dict" ] && dict=("-dict=tests/fuzz/dict/$t.dict")
  "$bin/fuzz_$t" "$work/corpus/$t" "tests/fuzz/corpus/$t" -runs=0 >"$work/logs/$t.replay.log" 2>&1 || true
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$work/logs/$t.replay.log" | tail -n 1)
  found=$(find "$work/findings/$t" -type f ! -name .found | wc -l)
  [ "$found" -gt 0 ] && status=1
  [ "$status" = 0 ] && [ "$total" -lt "$execs" ] && status=2
  read -r _ c _ f _ p <<<"${cov:-x ? x ? x ?}"
  errors=$(cat "${logs[@]}" | grep -c '^campaign_error:' || true)
  echo "| $t | $total | $wall | $core | $rate | $c | $f | $p | $found | $errors |" >>"$summary"
done
echo "campaign: $(( $(date +%s) - start )) s" >>"$summary"
cat "$summary"
exit "$status"
