#!/usr/bin/env bash
# Builds the cuda_ipc transport test and dllm-bench-transfer here (build-ipc/, a CUDA build) and
# bundles them with the libraries the GPU machine lacks (Abseil, UCX) into .ipcbundle/
# (git-ignored), with the script that runs them there.
#
#   tools/make-transfer-bundle.sh
#   then on the GPU machine (device tool: carry .ipcbundle):
#     bash .ipcbundle/cuda_ipc_device_run.sh .ipcbundle
#
# Env: DLLM_BUILD_JOBS (default 2), DLLM_SHARED_DIR (default ../shared beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared="${DLLM_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
build=build-ipc
bundle=.ipcbundle
bins=(cuda_ipc_transport_test dllm-bench-transfer)

[ -f "$build/build.ninja" ] || cmake -S . -B "$build" -G Ninja -DDLLM_WERROR=ON >/dev/null
nice -n 10 cmake --build "$build" --target "${bins[@]}" -j "${DLLM_BUILD_JOBS:-2}"
bash "$shared/tools/device-bundle.sh" "$bundle" "${bins[@]/#/$build/bin/}"
# Debug info is most of the size; the working tree that travels is capped (64 MiB).
strip --strip-debug "$bundle"/bin/* "$bundle"/lib/* 2>/dev/null || true
cp bench/transfer/cuda_ipc_device_run.sh "$bundle/"

exclude=$(git rev-parse --git-path info/exclude)
grep -qx "/$bundle/" "$exclude" 2>/dev/null || echo "/$bundle/" >>"$exclude"
du -sh "$bundle" | awk '{print "bundle after strip: " $1}'
