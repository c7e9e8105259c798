#!/usr/bin/env bash
# Builds the Debian package from the tree (docs/operations.md) and prints the .deb's path.
# Builds only what the package holds (the binary, its man page and changelog), not the tests,
# then runs `cpack -G DEB` in build/<preset> (default release). Needs dpkg-dev (dpkg-shlibdeps)
# and, for the man page, help2man: tools/bootstrap.sh installs both.
#   tools/package.sh [preset]
set -euo pipefail
preset=${1:-release}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -f "build/$preset/CMakeCache.txt" ] || cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" --target postern postern_package_files -j"$(nproc)" >&2
cd "build/$preset"
cpack -G DEB >&2
deb=$(ls -t "$PWD"/postern_*.deb | head -1)
echo "$deb"
