# Sourced by tools/demo.sh and tools/gpu-serve-check.sh (which runs from a GPU bundle, so this
# file travels beside it): start_process, which starts a server and waits until it is up.
# The caller sets `logs` (a folder for the logs) and `pids` (an array the new pid is appended to).
# shellcheck shell=bash

# start_process WHO TENTHS NAME MARKER COMMAND...: runs COMMAND in the background, its stderr in
# $logs/NAME.log, and waits up to TENTHS tenths of a second for MARKER in that log. Returns 1,
# after printing the log, when the process exits or the time runs out first.
start_process() {
  local who="$1" tenths="$2" name="$3" marker="$4"
  shift 4
  # shellcheck disable=SC2154  # logs: the caller's
  "$@" 2>"$logs/$name.log" &
  pids+=("$!")
  for _ in $(seq 1 "$tenths"); do
    grep -q "$marker" "$logs/$name.log" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "$who: $name did not start:" >&2
  cat "$logs/$name.log" >&2
  return 1
}
