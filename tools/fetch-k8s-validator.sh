#!/usr/bin/env bash
# Installs the offline Kubernetes manifest validator (npm: kubernetes-models, the
# prometheus-operator models, typescript, yaml; exact versions and integrity hashes in
# tools/k8s-validator/package-lock.json) for tests/deploy/validate_k8s.sh.
# Idempotent: does nothing when the cache already holds this lockfile's install.
# Prints the directory holding node_modules/ on stdout; everything else goes to stderr.
set -euo pipefail

src="$(cd "$(dirname "$0")/k8s-validator" && pwd)"
cache="${DLLM_K8S_VALIDATOR_CACHE:-$HOME/.cache/dllm-serve/k8s-validator}"
stamp="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)"
target="$cache/$stamp"

if [[ -f "$target/.installed" ]]; then
  echo "$target"
  exit 0
fi

command -v npm >/dev/null || { echo "fetch-k8s-validator: npm not found (tools/install-deps.sh installs it)" >&2; exit 1; }
mkdir -p "$cache"
# Install into a private temp dir, then move it into place, so a half-finished install is
# never taken for a good one (and two concurrent runs do not trip over each other).
work="$(mktemp -d "$cache/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$src/package.json" "$src/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) || {
  echo "fetch-k8s-validator: 'npm ci' failed (is the npm registry reachable?)" >&2
  exit 1
}
touch "$work/.installed"
if ! mv -T "$work" "$target" 2>/dev/null; then
  [[ -f "$target/.installed" ]] || { echo "fetch-k8s-validator: cannot install into $target" >&2; exit 1; }
fi
echo "$target"
