#!/usr/bin/env bash
# `postern demo` end to end: a full run (exit 0, both delivered Maildir files printed, the wire
# check passed) leaves no namespace, process, temp dir or state file behind; --keep leaves a
# working tunnel and refuses a second demo; --stop removes everything; Ctrl-C (SIGINT) in the
# middle cleans up and exits 130; a failing step is named, explained, cleaned up (exit 1); a non-root user is told plainly and gets exit 1.
# The demo uses fixed namespace names, so this test skips when a demo is already running.
source "$(dirname "$0")/lib.sh"
require_root
NS_RE='^postern-demo-(laptop|site)( |$)'
if ip netns list | grep -Eq "$NS_RE"; then skip "a postern demo is already running (postern demo --stop)"; fi

# demo_workdir OUTPUT_FILE: the temp dir the demo announced before step 1
demo_workdir() { sed -n 's/^postern demo: files in \(\/tmp\/postern-demo\.[A-Za-z0-9]*\) .*/\1/p' "$1" | head -n 1; }

# assert_nothing_left OUTPUT_FILE WHAT
assert_nothing_left() {
  local out=$1 what=$2 dir
  dir=$(demo_workdir "$out")
  [ -n "$dir" ] || fail "$what: the demo did not say where its files were"
  ! ip netns list | grep -Eq "$NS_RE" || fail "$what: a demo namespace is left: $(ip netns list)"
  [ ! -e "$dir" ] || fail "$what: $dir is left behind"
  [ ! -e /run/postern-demo.state ] || fail "$what: /run/postern-demo.state is left behind"
  ! pgrep -f -- "$dir" >/dev/null || fail "$what: processes left: $(pgrep -af -- "$dir")"
  ! pgrep -f -- "$POSTERN_BIN demo" >/dev/null || fail "$what: a demo process (capture?) is left: $(pgrep -af -- "$POSTERN_BIN demo")"
  ! ip link show pdemo-laptop >/dev/null 2>&1 || fail "$what: veth pdemo-laptop is left in the root namespace"
}

# 1. A full run.
start=$SECONDS
status=0
timeout 60 "$POSTERN_BIN" demo >"$WORK/full.log" 2>&1 || status=$?
cat "$WORK/full.log"
[ "$status" -eq 0 ] || fail "postern demo exited $status"
for n in 1 2 3 4 5 6 7 8 9; do
  grep -Eq "^\[$n/9\] .* \.\.\. ok$" "$WORK/full.log" || fail "step $n did not print '... ok'"
done
[ "$(grep -Ec '^ +/tmp/postern-demo\.[A-Za-z0-9]+/maildir/.*/new/[^/]+$' "$WORK/full.log")" -eq 2 ] ||
  fail "expected the two delivered Maildir files to be printed"
grep -q "Subject: postern demo: STARTTLS on 587" "$WORK/full.log" || fail "the 587 message is not shown"
grep -q "Subject: postern demo: implicit TLS on 465" "$WORK/full.log" || fail "the 465 message is not shown"
grep -Eq '[1-9][0-9]* GRE-in-UDP' "$WORK/full.log" || fail "no GRE-in-UDP count printed"
grep -q "none found" "$WORK/full.log" || fail "the leak check result is not printed"
assert_nothing_left "$WORK/full.log" "after a full run"
log "full run ok in $((SECONDS - start))s, nothing left behind"

# 2. --keep, use it, refuse a second demo, then --stop.
status=0
timeout 60 "$POSTERN_BIN" demo --keep >"$WORK/keep.log" 2>&1 || status=$?
[ "$status" -eq 0 ] || { cat "$WORK/keep.log"; fail "postern demo --keep exited $status"; }
grep -q "postern demo --stop" "$WORK/keep.log" || fail "--keep did not say how to stop"
dir=$(demo_workdir "$WORK/keep.log")
[ -d "$dir" ] || fail "--keep removed its files"
[ -n "$(ip netns pids postern-demo-site)" ] || fail "--keep: no daemon left in postern-demo-site"
ip netns exec postern-demo-laptop ping -c 2 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "--keep: no tunnel"
(head -n 1 "$dir/demo-password"; echo "kept demo") |
  ip netns exec postern-demo-laptop "$POSTERN_BIN" send --server 10.77.0.1:587 --ca "$dir/pki/ca.pem" \
    --auth demo --from demo@site.test --to demo@site.test --subject again >"$WORK/send.log" 2>&1 ||
  { cat "$WORK/send.log"; fail "--keep: postern send as printed in the help failed"; }
status=0
"$POSTERN_BIN" demo >"$WORK/second.log" 2>&1 || status=$?
[ "$status" -eq 1 ] || fail "a second demo while one is kept exited $status, expected 1"
grep -q -- "--stop" "$WORK/second.log" || fail "the refusal does not mention --stop: $(cat "$WORK/second.log")"
[ -d "$dir" ] || fail "the refused second demo removed the first one's files"
"$POSTERN_BIN" demo --stop >"$WORK/stop.log" 2>&1 || fail "postern demo --stop failed: $(cat "$WORK/stop.log")"
cat "$WORK/stop.log"
assert_nothing_left "$WORK/keep.log" "after --keep then --stop"
"$POSTERN_BIN" demo --stop | grep -q "nothing to stop" || fail "a second --stop should say there is nothing to stop"
log "--keep / --stop ok"

# 3. Ctrl-C once the daemons run.
"$POSTERN_BIN" demo >"$WORK/int.log" 2>&1 &
demo_pid=$!
wait_for 20 "step 4 of the interrupted demo" grep -q '^\[4/9\]' "$WORK/int.log"
kill -INT "$demo_pid"
status=0
wait "$demo_pid" || status=$?
cat "$WORK/int.log"
[ "$status" -eq 130 ] || grep -q "all steps passed" "$WORK/int.log" || fail "interrupted demo exited $status, expected 130"
grep -q '^\[9/9\] cleaning up .* ok$' "$WORK/int.log" || fail "the interrupted demo did not clean up"
assert_nothing_left "$WORK/int.log" "after Ctrl-C"
log "Ctrl-C ok (exit $status)"

# 4. A step that fails: a link named like the demo's site veth already exists in the root namespace.
ip link add pdemo-site type veth peer name "pdt$$"
status=0
timeout 30 "$POSTERN_BIN" demo >"$WORK/fail.log" 2>&1 || status=$?
ip link del pdemo-site 2>/dev/null || true
cat "$WORK/fail.log"
[ "$status" -eq 1 ] || fail "a failing demo exited $status, expected 1"
grep -q '^\[1/9\] .* FAILED$' "$WORK/fail.log" || fail "the failing step was not named"
grep -q 'File exists' "$WORK/fail.log" || fail "the failure does not say why"
assert_nothing_left "$WORK/fail.log" "after a failed step"
log "failing step reported and cleaned up ok"

# 5. Not root.
status=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$POSTERN_BIN" demo >"$WORK/user.log" 2>&1 || status=$?
[ "$status" -eq 1 ] || fail "as nobody: exit $status, expected 1"
grep -q "needs root" "$WORK/user.log" || fail "as nobody: no plain 'needs root' message: $(cat "$WORK/user.log")"
log "non-root refused ok"
log "PASS"
