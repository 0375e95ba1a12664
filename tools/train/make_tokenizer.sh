#!/usr/bin/env bash
# Trains the bundled model's byte-level BPE (vocab 3072) on generated task text plus a few
# English licence texts; writes tools/train/out/tokenizer.json and tokenizer_config.json.
# Standard-library Python only, deterministic, about 15 s.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/tools/train/out}"
corpus="$(mktemp)"
trap 'rm -f "$corpus"' EXIT
mkdir -p "$out"
python3 "$root/tools/data/gen_tasks.py" --task all --ctx 2048 --seed 0 --count 400 \
  --split train --emit text --output "$corpus"
licences=()
for f in GPL-3 Apache-2.0 MPL-2.0; do
  [[ -f /usr/share/common-licenses/$f ]] && licences+=("/usr/share/common-licenses/$f")
done
# Ids: 0..255 bytes, 256..3055 merges, 3056..3061 special tokens, 3062..3071 reserved.
python3 "$root/tools/train/train_bpe_tokenizer.py" --vocab-size 3072 \
  --special '<|endoftext|>=3056' --special '<|startoftext|>=3057' --special '<|eot_id|>=3058' \
  --special '<|start_header_id|>=3059' --special '<|end_header_id|>=3060' \
  --special '<|mdm_mask|>=3061' \
  --output "$out/tokenizer.json" --config-output "$out/tokenizer_config.json" \
  "$corpus" "${licences[@]}"
