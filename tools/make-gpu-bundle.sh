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
build="${DLLM_GPU_BUILD_DIR:-build-cuda}"  # any CUDA build dir
bundle=.devbundle

[ -f "$build/build.ninja" ] || cmake -S . -B "$build" -G Ninja -DDLLM_WERROR=ON >/dev/null
tests=()
for src in tests/gpu/*_test.cc; do tests+=("$(basename "$src" .cc)"); done
bench=dllm-bench-cuda-ops
# (The target list is captured first: `grep -q` closing the pipe early would SIGPIPE cmake, and
# pipefail would turn that into a spurious "no target".)
targets=$(cmake --build "$build" --target help)
if ! grep -q "^$bench:" <<<"$targets"; then
  echo "make-gpu-bundle: no target $bench: add 'add_subdirectory(cuda)' to bench/CMakeLists.txt" >&2
  exit 2
fi
cmake --build "$build" --target "${tests[@]}" "$bench" dllm dllm-bench -j "${DLLM_BUILD_JOBS:-2}"

# device-bundle.sh stops (pipefail) on a binary that needs none of the libraries it copies, so
# it gets only the binaries that need some (same filter as its own); the others are copied here.
skip='/libc\.so|/libm\.so|libstdc\+\+|libgcc_s|ld-linux|libpthread|/libdl\.so|/librt\.so|libcuda\.so|libcudart|libnccl|libcublas|libnvidia'
with_libs=()
plain=()
for t in "${tests[@]}" "$bench" dllm dllm-bench; do
  libs=$(ldd "$build/bin/$t" | awk '/=> \//{print $3}')
  if grep -qvE "$skip|^$" <<<"$libs"; then
    with_libs+=("$build/bin/$t")
  else
    plain+=("$build/bin/$t")
  fi
done
if [ ${#with_libs[@]} -eq 0 ]; then
  echo "make-gpu-bundle: expected cuda_model_test to need bundled libraries (absl)" >&2
  exit 2
fi
if ! bash "$shared/tools/device-bundle.sh" "$bundle" "${with_libs[@]}"; then
  # Seen here: it also stops when pkg-config knows no UCX (after copying the libraries, before
  # env.sh). Check that every library made it, then write env.sh as it would.
  echo "make-gpu-bundle: device-bundle.sh failed; completing the bundle" >&2
  for b in "${with_libs[@]}"; do
    for l in $(ldd "$b" | awk '/=> \//{print $3}' | grep -vE "$skip"); do
      [ -e "$bundle/lib/$(basename "$l")" ] || { echo "make-gpu-bundle: missing $l" >&2; exit 1; }
    done
    [ -e "$bundle/bin/$(basename "$b")" ] || { echo "make-gpu-bundle: missing $b" >&2; exit 1; }
  done
  cat >"$bundle/env.sh" <<'EOS'
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$here/bin:$PATH" LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" UCX_MODULE_DIR="$here/ucx"
EOS
fi
for b in "${plain[@]}"; do cp -L "$b" "$bundle/bin/"; done
# Debug info is most of the size; the working tree that travels is capped (64 MiB).
strip --strip-debug "$bundle"/bin/* "$bundle"/lib/* 2>/dev/null || true
mkdir -p "$bundle/golden"
cp -r "$shared/golden/llada-tiny" "$shared/golden/dream-tiny" "$bundle/golden/"
mkdir -p "$bundle/models"
cp -r models/llada-tiny "$bundle/models/"
cp tools/gpu-check.sh tools/gpu-runtime-env.sh tools/gpu-serve-check.sh tools/start-process.sh \
  "$bundle/"

exclude=$(git rev-parse --git-path info/exclude)
grep -qx "/$bundle/" "$exclude" 2>/dev/null || echo "/$bundle/" >>"$exclude"
du -sh "$bundle" | awk '{print "bundle after strip: " $1}'
