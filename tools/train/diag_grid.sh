#!/usr/bin/env bash
# Runs tools/train/diag_copy.py variants side by side on the GPU (one CPU core each); all logs
# end up in ${OUT:-build-train/out}/diag.log. Usage: bash tools/train/diag_grid.sh [SECONDS]
limit=${1:-420}
out=${OUT:-build-train/out}
tmp=$(mktemp -d)
d="python3 tools/train/diag_copy.py --device cuda --steps 3000"
run() { name=$1; shift; timeout "$limit" $d --name "$name" "$@" > "$tmp/$name.log" 2>&1 & }
run kv-small --task kv
run copy-small --task copy
run kv-small-theta1e4 --task kv --theta 1e4
run kv-full-bf16 --task kv --full --bf16 --lr 1.5e-3
run kv-full-fp32 --task kv --full --lr 1.5e-3
run kv-full-bf16-suffix --task kv --full --bf16 --lr 1.5e-3 --suffix-frac 0.5
run marker-full-bf16 --task marker --full --bf16 --lr 1.5e-3
run marker-full-bf16-len250 --task marker --full --bf16 --lr 1.5e-3 --len 250
wait
cat "$tmp"/*.log > "$out/diag.log"
for f in "$tmp"/*.log; do tail -n 3 "$f"; done
