#!/usr/bin/env bash
# The packaged systemd units (tools/packaging/systemd) are clean for `systemd-analyze verify`
# and keep their `systemd-analyze security` exposure at or below 3.0 ("OK"). Works without
# systemd as PID 1. ExecStart= is pointed at the built binary, since verify checks that the
# command exists and /usr/sbin/postern is only there once the package is installed.
# Exit 77 (skipped) when systemd-analyze is missing.
set -euo pipefail
src=${POSTERN_SOURCE_DIR:?}/tools/packaging/systemd
bin=${POSTERN_BIN:?}
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed (package systemd)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in postern-server.service postern-client@.service; do
  sed "s|/usr/sbin/postern|$bin|" "$src/$unit" >"$tmp/$unit"
done
cp "$tmp/postern-client@.service" "$tmp/postern-client@office.service"
fail=0
# verify loads the host's other units too; their own warnings (Debian 12's freeradius.service
# uses MemoryLimit=, installed for the directory tests) say nothing about ours: only lines
# naming a postern unit, or no unit at all, count.
if out=$(systemd-analyze verify --man=no "$tmp/postern-server.service" "$tmp/postern-client@office.service" 2>&1) \
   && out=$(printf '%s\n' "$out" | grep -v '^/lib/systemd/system/\|^/etc/systemd/system/' || true) \
   && [ -z "$out" ]; then
  echo "ok   systemd-analyze verify is clean"
else
  echo "FAIL systemd-analyze verify:"; echo "$out" | sed 's/^/     /'; fail=1
fi
for unit in postern-server.service postern-client@office.service; do
  line=$(systemd-analyze security --offline=yes "$tmp/$unit" 2>&1 | grep 'Overall exposure level' || true)
  score=$(sed -n 's/.*: \([0-9.]*\) .*/\1/p' <<<"$line")
  if [ -z "$score" ]; then
    echo "ok   $unit: no offline security analysis in this systemd (needs 252+), not checked"
  elif awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }'; then
    echo "ok   $unit: exposure $score <= 3.0"
  else
    echo "FAIL $unit: exposure $score > 3.0 ($line)"; fail=1
  fi
done
exit $fail
