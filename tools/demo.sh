#!/usr/bin/env bash
# Installs what postern needs, builds it (release), and runs `postern demo`: laptop -> tunnel ->
# site mail in two network namespaces. Root. Extra arguments go to `postern demo` (e.g. --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root (it creates network namespaces and TUN devices): sudo $0 $*" >&2
  exit 1
fi
tools/bootstrap.sh
cmake --preset release >/dev/null
cmake --build --preset release --target postern -j "$(nproc)"
exec build/release/tools/postern/postern demo "$@"
