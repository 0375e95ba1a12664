#!/usr/bin/env bash
# Builds dllm-bench here (build-e2e/) and packs it, with the libraries the GPU machine lacks and
# bench/e2e/run_e2e_device.sh, into .carry-e2e/bundle.tar.xz (git-ignored; carry .carry-e2e).
#
#   tools/make-e2e-bundle.sh   then, on the GPU machine: bash bench/e2e/run_e2e_device.sh
#
# Env: DLLM_BUILD_JOBS (default 2); DLLM_E2E_SOURCE: the source tree to build (default this
# checkout; a clean `git worktree` when others' unfinished edits share it).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-e2e
bundle=.devbundle-e2e
cmake -S "${DLLM_E2E_SOURCE:-.}" -B "$build" -G Ninja -DDLLM_WERROR=ON >/dev/null
cmake --build "$build" --target dllm-bench -j "${DLLM_BUILD_JOBS:-2}"

rm -rf "$bundle" && mkdir -p "$bundle/bin" "$bundle/lib"
cp -L "$build/bin/dllm-bench" "$bundle/bin/"
# The CUDA runtime, cuBLASLt, glibc and libstdc++ are the GPU machine's own.
skip='/libc\.so|/libm\.so|libstdc\+\+|libgcc_s|ld-linux|libpthread|/libdl\.so|/librt\.so|libcuda\.so|libcudart|libnccl|libcublas|libnvidia'
for l in $(ldd "$build/bin/dllm-bench" | awk '/=> \//{print $3}' | grep -vE "$skip" || true); do
  cp -Ln "$l" "$bundle/lib/"
done
strip --strip-debug "$bundle"/bin/* "$bundle"/lib/* 2>/dev/null || true
mkdir -p .carry-e2e
tar cf - "$bundle" | xz -T2 >.carry-e2e/bundle.tar.xz
exclude=$(git rev-parse --git-path info/exclude)
for p in "/$bundle/" /.carry-e2e/ "/$build/"; do
  grep -qx "$p" "$exclude" 2>/dev/null || echo "$p" >>"$exclude"
done
du -sh .carry-e2e/bundle.tar.xz | awk '{print "carry: " $1}'
