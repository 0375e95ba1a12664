#!/usr/bin/env bash
# One training piece on the GPU machine, with what must come back collected under $OUT:
#   bash tools/train/gpu_piece.sh RUN_DIR MAX_MINUTES [train_llada.py args...]
# Resumes from RUN_DIR/ckpt.pt when the machine still has it; otherwise, when a previous
# piece's export was carried in build-train/prev/ (parts model.safetensors.part* joined here),
# continues from it with --init-from. $OUT gets piece.log, config.json, train_state.json and
# model.safetensors.part00.. (15 MiB each: the transfer limit is 16 MiB per file).
set -uo pipefail
export PYTHONUNBUFFERED=1
run=$1; minutes=$2; shift 2
out=${OUT:-build-train/out}
mkdir -p "$run" "$out"
init=()
if [[ ! -f $run/ckpt.pt && -d build-train/prev ]]; then
  if compgen -G "build-train/prev/model.safetensors.part*" >/dev/null; then
    cat build-train/prev/model.safetensors.part* > build-train/prev/model.safetensors
  fi
  init=(--init-from build-train/prev)
fi
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader || true
python3 tools/train/train_llada.py --out "$run" --max-minutes "$minutes" "${init[@]}" "$@" 2>&1 \
  | tee "$out/piece.log" | grep -v "saved .*ckpt.pt"
rc=${PIPESTATUS[0]}
cp "$run/export/config.json" "$run/export/train_state.json" "$out/" || true
split -b 15M -d "$run/export/model.safetensors" "$out/model.safetensors.part" || true
exit "$rc"
