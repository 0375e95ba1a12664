#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries the given binaries load (one
# per line), so the runtime image installs exactly those. Runs in the build stage.
set -euo pipefail
for lib in $(ldd "$@" | awk '/=> \// {print $3}' | sort -u); do
  real="$(readlink -f "$lib")"
  # With merged /usr a library may be registered under /lib or /usr/lib.
  for path in "$lib" "$real" "/usr$lib" "${lib#/usr}" "/usr$real" "${real#/usr}"; do
    if pkg="$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)" && [ -n "$pkg" ]; then
      echo "$pkg"
      break
    fi
  done
done | sort -u
