#!/usr/bin/env bash
# Builds the GPU tests and the CUDA benchmark here (build-cuda/), then bundles them with the
# libraries the GPU machine lacks and the golden tiny models into .devbundle/ (git-ignored).
#
#   tools/make-gpu-bundle.sh            then, on the GPU machine: bash .devbundle/gpu-check.sh .devbundle
#
# Env: DLLM_BUILD_JOBS (default 2), DLLM_SHARED_DIR (default ../shared beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared="${DLLM_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}"
build=build-cuda
bundle=.devbundle

cmake -S . -B "$build" -G Ninja -DDLLM_WERROR=ON >/dev/null
grep -q '^DLLM_HAVE_CUDA' "$build/CMakeCache.txt" 2>/dev/null || true
tests=()
for src in tests/gpu/*_test.cc; do tests+=("$(basename "$src" .cc)"); done
bench=dllm-bench-cuda-ops
if ! cmake --build "$build" --target help | grep -q "^$bench:"; then
  echo "make-gpu-bundle: no target $bench: add 'add_subdirectory(cuda)' to bench/CMakeLists.txt" >&2
  exit 2
fi
cmake --build "$build" --target "${tests[@]}" "$bench" -j "${DLLM_BUILD_JOBS:-2}"

bins=()
for t in "${tests[@]}" "$bench"; do bins+=("$build/bin/$t"); done
bash "$shared/tools/device-bundle.sh" "$bundle" "${bins[@]}"
# Debug info is most of the size; the working tree that travels is capped (64 MiB).
strip --strip-debug "$bundle"/bin/* "$bundle"/lib/* 2>/dev/null || true
mkdir -p "$bundle/golden"
cp -r "$shared/golden/llada-tiny" "$shared/golden/dream-tiny" "$bundle/golden/"
cp tools/gpu-check.sh "$bundle/"

exclude=$(git rev-parse --git-path info/exclude)
grep -qx "/$bundle/" "$exclude" 2>/dev/null || echo "/$bundle/" >>"$exclude"
du -sh "$bundle" | awk '{print "bundle after strip: " $1}'
