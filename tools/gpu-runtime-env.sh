# Sourced ON the GPU machine by the bundle scripts (gpu-check.sh, gpu-serve-check.sh): the CUDA
# runtime and cuBLASLt are the machine's own (device-bundle.sh leaves them out), so their folder
# joins LD_LIBRARY_PATH when the loader does not know them.
for lib in libcudart.so.13 libcublasLt.so.13; do
  if ! ldconfig -p 2>/dev/null | grep -q "$lib"; then
    found=$(find /usr/local/cuda/lib64 /usr/local/cuda/targets /usr/lib /opt /usr/local/lib \
      -name "$lib*" -print -quit 2>/dev/null)
    if [ -n "$found" ]; then
      export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$found")"
    else
      echo "gpu: warning: $lib not found on this machine" >&2
    fi
  fi
done
