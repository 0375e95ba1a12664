#!/usr/bin/env bash
# The full reliability runs (docs/RELIABILITY.md): the soak with faults (1,000 requests while a
# random node is kill -9ed and restarted every ~3 s and decode nodes drop 10 % of K/V layer pulls),
# then the 60 s overload run. CI runs short forms through CTest (label soak). Extra flags go to the
# soak driver, e.g. `tests/soak/run.sh --requests 300`.
#   BUILD=build-soak tests/soak/run.sh        (default BUILD=build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${BUILD:-build}"
cmake --build "$build" --target dllm soak_test overload_test
echo "== soak with faults ($(date -u +%F), $(nproc) cores)"
"$build/bin/soak_test" --requests 1000 --rate 2 --kill-every-ms 3000 --min-kills 100 "$@"
echo "== overload (60 s at 10x capacity)"
"$build/bin/overload_test" --seconds 60
