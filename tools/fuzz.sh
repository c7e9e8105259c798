#!/usr/bin/env bash
# Exploratory fuzzing: runs every libFuzzer target (or the ones named) for SECONDS each with a
# random seed, starting from its corpus in tests/fuzz/corpus/<name>/, then minimises what it
# found back into that folder (libFuzzer -merge=1: only inputs that add coverage to what the
# folder already covers join it; existing inputs, such as regression cases, are kept), so the next
# CI run (tools/test.sh, fixed seed) starts from there.
#   tools/fuzz.sh [-t SECONDS] [-j JOBS] [target...]    e.g. tools/fuzz.sh -t 600 spool_file
# Crashes are kept in build/fuzz/crashes/<name>/ and make the script exit 1; add the input to the
# corpus once the bug is fixed. Review `git status tests/fuzz/corpus` before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=300
jobs=1
while getopts "t:j:h" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

cmake --preset fuzz >/dev/null
if [ $# -gt 0 ]; then
  targets=$(printf 'fuzz_%s ' "$@")
else
  targets=$(cmake --build --preset fuzz --target help | sed -n 's/^\(fuzz_[a-z0-9_]*\):.*/\1/p')
fi
cmake --build --preset fuzz -j "$(nproc)" --target $targets

status=0
for t in $targets; do
  name=${t#fuzz_}
  binary=build/fuzz/tests/fuzz/$t
  seeds=tests/fuzz/corpus/$name
  crashes=build/fuzz/crashes/$name
  mkdir -p "$seeds" "$crashes"
  work=$(mktemp -d)
  cp -r "$seeds/." "$work/"
  before=$(find "$seeds" -type f | wc -l)
  echo "fuzz $name: ${seconds}s, $jobs job(s), $before seed(s)"
  parallel=()
  [ "$jobs" -gt 1 ] && parallel=(-fork="$jobs")
  if ! "$binary" "${parallel[@]}" -max_total_time="$seconds" -artifact_prefix="$crashes/" \
       -print_final_stats=1 "$work" >"$crashes/last.log" 2>&1; then
    echo "fuzz $name: FAILED, inputs in $crashes/ (log: $crashes/last.log)"
    status=1
  fi
  "$binary" -merge=1 "$seeds" "$work" >"$crashes/merge.log" 2>&1 || true
  echo "fuzz $name: corpus $before -> $(find "$seeds" -type f | wc -l) input(s)"
  rm -rf "$work"
done
exit $status
