#!/usr/bin/env bash
# Line coverage of the sans-I/O cores reached by the fuzz corpora: builds every libFuzzer target
# with clang's source-based coverage (-fprofile-instr-generate -fcoverage-mapping, in
# build/fuzz-coverage), runs each once over its corpus in tests/fuzz/corpus/<name>/ (-runs=0:
# no new inputs, so the figure is what the committed corpus reaches, the same on every machine),
# merges the profiles and prints lines covered per folder, then per file with -v.
#   tools/fuzz_coverage.sh [-v]
# Needs clang, llvm-profdata and llvm-cov (Debian's clang and llvm packages, tools/bootstrap.sh).
# Not part of tools/test.sh (a build of its own); docs/testing.md quotes its output. The build
# dir has its own flags (POSTERN_COVERAGE: no sanitizers) and bypasses ccache, so no object
# built with other flags or from another tree can stand in for one of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
verbose=0
[ "${1:-}" = "-v" ] && verbose=1
build=build/fuzz-coverage
profdata=$(command -v llvm-profdata-14 || command -v llvm-profdata)
cov=$(command -v llvm-cov-14 || command -v llvm-cov)

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DPOSTERN_FUZZ=ON -DPOSTERN_TESTS=OFF -DPOSTERN_COVERAGE=ON >/dev/null
targets=$(cmake --build "$build" --target help | sed -n 's/^\(fuzz_[a-z0-9_]*\):.*/\1/p')
CCACHE_DISABLE=1 cmake --build "$build" -j "$(nproc)" --target $targets >/dev/null

profiles=$(mktemp -d)
trap 'rm -rf "$profiles"' EXIT
objects=()
for t in $targets; do
  name=${t#fuzz_}
  binary=$build/tests/fuzz/$t
  mkdir -p "tests/fuzz/corpus/$name"
  if ! LLVM_PROFILE_FILE="$profiles/$name.profraw" "$binary" -runs=0 "tests/fuzz/corpus/$name" \
       >"$profiles/$name.log" 2>&1; then
    echo "fuzz_coverage: $t failed on its corpus:" >&2
    tail -n 20 "$profiles/$name.log" >&2
    exit 1
  fi
  echo "$t: $(find "tests/fuzz/corpus/$name" -type f | wc -l) input(s)"
  objects+=(-object "$binary")
done
"$profdata" merge -sparse -o "$profiles/all.profdata" "$profiles"/*.profraw
# The cores and decoders only: the fuzz targets themselves and system headers are not counted.
"$cov" export -summary-only -instr-profile "$profiles/all.profdata" "${objects[@]}" \
  -ignore-filename-regex='(/usr/|tests/fuzz/)' >"$profiles/summary.json"
python3 - "$profiles/summary.json" "$PWD/" "$verbose" <<'ENDPY'
import collections, json, os, sys
summary, root, verbose = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3] == "1"
build = os.path.join(root, "build/fuzz-coverage")
folders = collections.defaultdict(lambda: [0, 0])
rows = []
for f in summary["data"][0]["files"]:
    # A path may be recorded relative to the build folder (as a ccache base directory makes it).
    name = os.path.relpath(os.path.normpath(os.path.join(build, f["filename"])), root)
    if name.startswith(("tests/", "build/", "..")):
        continue
    lines = f["summary"]["lines"]
    folder = name.rsplit("/", 1)[0]
    folders[folder][0] += lines["covered"]
    folders[folder][1] += lines["count"]
    rows.append((name, lines["covered"], lines["count"]))
print()
print(f"{'folder':24} {'lines':>13} {'covered':>8}")
for folder, (covered, count) in sorted(folders.items()):
    print(f"{folder:24} {covered:6}/{count:<6} {100.0 * covered / max(count, 1):7.1f}%")
if verbose:
    print()
    for name, covered, count in sorted(rows):
        print(f"{name:56} {covered:6}/{count:<6} {100.0 * covered / max(count, 1):7.1f}%")
ENDPY
