#!/usr/bin/env bash
# Renders every deploy/k8s overlay with kubectl's built-in kustomize and validates the objects
# offline (tests/deploy/validate_k8s.cjs); then checks that the validator does reject broken
# manifests. The npm validator comes from tools/fetch-k8s-validator.sh (cached).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/tests/deploy"

command -v kubectl >/dev/null || {
  echo "validate_k8s: kubectl not found; it renders the kustomize overlays (kustomize v5)" >&2
  exit 1
}
command -v node >/dev/null || { echo "validate_k8s: node not found (tools/install-deps.sh)" >&2; exit 1; }
modules="$(bash "$root/tools/fetch-k8s-validator.sh")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
args=()
for dir in "$root"/deploy/k8s/overlays/*/; do
  overlay="$(basename "$dir")"
  kubectl kustomize "$dir" > "$work/$overlay.yaml"
  args+=("$overlay=$work/$overlay.yaml")
done
node "$here/validate_k8s.cjs" "$modules" "${args[@]}"

# The validator is not vacuous: a misspelt field, a wrong type, a lost GPU request and a gRPC
# port that the flags and probes do not use each fail it.
expect_rejected() {
  local what="$1" script="$2"
  sed -e "$script" "$work/gpu.yaml" > "$work/broken.yaml"
  if node "$here/validate_k8s.cjs" "$modules" "gpu=$work/broken.yaml" 2>"$work/broken.log" >/dev/null; then
    echo "validate_k8s: accepted a manifest with $what" >&2
    exit 1
  fi
  echo "rejected as expected ($what): $(grep -m1 'k8s: gpu' "$work/broken.log" || head -1 "$work/broken.log")"
}
expect_rejected "a misspelt field" 's/terminationGracePeriodSeconds:/terminationGracePeriodSecond:/'
expect_rejected "a string replica count" '0,/replicas: 2/s//replicas: two/'
expect_rejected "no GPU request" '/nvidia.com\/gpu: "1"/d'
expect_rejected "a moved gRPC port" 's/containerPort: 50053/containerPort: 50099/'
echo "validate_k8s: OK"
