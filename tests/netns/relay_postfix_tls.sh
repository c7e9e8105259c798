#!/usr/bin/env bash
# Issue 8: under tls = "verify" (the default) postern never hands a message to a relay it cannot
# authenticate over TLS. A real Postfix in the site LAN, two failure cases, then the good one:
#  1. Postfix presents a trusted certificate for other.example while postern wants mx.site.test:
#     the message is deferred, postern logs "certificate name mismatch: wanted mx.site.test,
#     certificate names other.example", and `postern queue` shows it pending with that reason;
#  2. Postfix offers no STARTTLS: deferred, "relay offers no STARTTLS";
#  in both, a capture of the site's LAN link (tcpdump on the site end of the veth, around the
#  attempt) holds neither the body's marker nor the Subject's (`postern capture --leak-check`
#  and grep -a), and no MAIL FROM / RCPT TO: the plaintext part ends at EHLO/STARTTLS/QUIT. The
#  capture is checked to have seen the attempt: the plaintext EHLO is in it, and the same leak
#  check finds it there (exit 3), so a "no leak" verdict is not a blind one;
#  3. Postfix back with the mx.site.test certificate and STARTTLS: the same message (same queue
#     id) is delivered once, over TLS (the marker is not on the wire then either), the queue is
#     empty and `postern status` counts relayed = 1.
# Both of Postfix's certificates come from the test CA postern trusts (`ca`), so case 1 fails on
# the name alone (the chain verifies). Retries are a minute apart, so the only attempts are the one
# at submission and the ones `postern queue retry` asks for, each inside its capture window.
# Postfix is reconfigured between cases with pf_create (tests/netns/postfix.sh), which starts the
# instance afresh: its mailbox is empty before case 3, so one file there is one delivery.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
command -v tcpdump >/dev/null || skip "tcpdump is not installed"
WITH_LAN=1 make_topology
make_pki
LAN_VETH="${ID}c"  # the site's end of the LAN link (make_topology)

# One test CA, two certificates: mx.site.test (the name postern wants) and other.example.
pf_make_ca "$WORK/mtaca"
pf_make_cert "$WORK/mtaca" mx mx.site.test 192.168.50.2
pf_make_cert "$WORK/mtaca" other other.example
# mta CERT-NAME|none: (re)configure and start Postfix "mx" with that certificate or no STARTTLS.
mta() {
  local tls=()
  [ "$1" = none ] || tls=(--tls "$WORK/mtaca/$1.pem" "$WORK/mtaca/$1.key")
  pf_create mx "$NS_LAN" 192.168.50.2 "${tls[@]}" --mynetworks "127.0.0.0/8 192.168.50.0/24" --mailbox partner
  pf_start mx
}
mta other

write_server_config "$WORK/site.toml"
SMTP_HOSTNAME=vpn.site.test append_smtp_config "$WORK/site.toml"
cat >>"$WORK/site.toml" <<CONF
[smtp.relay]
hosts = ["192.168.50.2:25"]
ca = "mtaca/ca.pem"
server_name = "mx.site.test"

[smtp.queue]
retry_min = "1m"
retry_max = "1m"
CONF
grep -q '^tls' "$WORK/site.toml" && fail "the test must rely on the default tls policy"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "the SMTP listener" in_laptop bash -c "exec 3<>/dev/tcp/10.77.0.1/587"

BODY_MARKER="body-marker-$$-$RANDOM$RANDOM"
SUBJECT_MARKER="subject-marker-$$-$RANDOM$RANDOM"

# capture_start NAME / capture_stop: tcpdump on the site's LAN veth into $WORK/NAME.pcap.
capture_start() {
  CAPTURE="$WORK/$1.pcap"
  # `ip netns exec` execs tcpdump, so $! is tcpdump itself (a backgrounded in_site would be a
  # subshell). --immediate-mode: packets reach the file at once, not a ring-buffer block later.
  ip netns exec "$NS_SITE" tcpdump -i "$LAN_VETH" --immediate-mode -U -n -s 0 -Z root -w "$CAPTURE" \
    tcp port 25 >"$WORK/$1.tcpdump" 2>&1 &
  PIDS+=($!)
  CAPTURE_PID=$!
  wait_for 5 "tcpdump capturing on $LAN_VETH" grep -q "listening on" "$WORK/$1.tcpdump"
}
capture_stop() {
  sleep 0.3  # the last segments (QUIT, FIN) after the deferral
  kill -TERM "$CAPTURE_PID"  # not INT: a background job of a script ignores SIGINT
  wait "$CAPTURE_PID" 2>/dev/null || true
}
# no_leak: neither marker is in $CAPTURE, which did see the attempt (a plaintext EHLO), and no
# envelope command went out in plaintext.
no_leak() {
  grep -aq "EHLO vpn.site.test" "$CAPTURE" || fail "$(basename "$CAPTURE") did not see postern's EHLO: $(cat "${CAPTURE%.pcap}.tcpdump")"
  # The leak check's own control: it must find the plaintext EHLO in this file (exit 3).
  local rc=0
  "$POSTERN_BIN" capture -r "$CAPTURE" --port 0 --summary-only --leak-check "EHLO vpn.site.test" >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 3 ] || fail "postern capture --leak-check did not find the plaintext EHLO in $(basename "$CAPTURE") (exit $rc)"
  "$POSTERN_BIN" capture -r "$CAPTURE" --port 0 --summary-only --leak-check "$BODY_MARKER" "$SUBJECT_MARKER" \
    >"${CAPTURE%.pcap}.leak" 2>&1 || fail "postern capture --leak-check on $(basename "$CAPTURE"): $(cat "${CAPTURE%.pcap}.leak")"
  grep -q "no leak" "${CAPTURE%.pcap}.leak" || fail "postern capture gave no verdict: $(cat "${CAPTURE%.pcap}.leak")"
  ! grep -aq -e "$BODY_MARKER" -e "$SUBJECT_MARKER" "$CAPTURE" || fail "a marker is on the wire in $(basename "$CAPTURE")"
  ! grep -aiq -e "MAIL FROM" -e "RCPT TO" "$CAPTURE" || fail "an envelope command went out in plaintext ($(basename "$CAPTURE"))"
}
# still_queued REASON-REGEX: the message (QUEUE_ID) is pending for partner@ with that last error.
still_queued() {
  "$POSTERN_BIN" queue -c "$WORK/site.toml" --json list >"$WORK/queue.json" || fail "postern queue"
  python3 - "$WORK/queue.json" "$QUEUE_ID" "$1" <<'PY' || fail "not queued as expected: $(cat "$WORK/queue.json")"
import json, re, sys
doc = json.load(open(sys.argv[1]))
[m] = doc["messages"]
assert m["id"] == sys.argv[2], (m["id"], sys.argv[2])
[r] = m["recipients"]
assert r["address"] == "partner@elsewhere.example" and r["state"] == "pending", r
assert re.search(sys.argv[3], r["last_error"]), r["last_error"]
PY
}
deferrals() { grep -c "deferred to=partner@elsewhere.example" "$WORK/server.log" || true; }

# --- 1. a certificate for another host ------------------------------------------------------
capture_start mismatch
cat >"$WORK/submit.py" <<'PY'
import smtplib, ssl, sys
from email.message import EmailMessage
msg = EmailMessage()
msg["From"] = "Laptop <laptop@example.test>"
msg["To"] = "partner@elsewhere.example"
msg["Subject"] = "tls check " + sys.argv[3]
msg["Message-ID"] = "<relay-tls-1@example.test>"
msg.set_content("Hello partner,\n\n" + sys.argv[2] + "\n\nonly over verified TLS.\n")
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.check_hostname = False  # the test PKI's server certificate names the outer address only
with smtplib.SMTP("10.77.0.1", 587, timeout=20) as s:
    s.starttls(context=ctx)
    s.send_message(msg, "laptop@example.test", ["partner@elsewhere.example"])
PY
in_laptop python3 "$WORK/submit.py" "$WORK/pki/ca.pem" "$BODY_MARKER" "$SUBJECT_MARKER" >"$WORK/submit.log" 2>&1 ||
  fail "submission failed: $(tail -n 5 "$WORK/submit.log")"
wait_for_log 10 "$WORK/server.log" 'deferred to=partner@elsewhere\.example .*certificate name mismatch: wanted mx\.site\.test, certificate names other\.example'
capture_stop
QUEUE_ID=$(grep -oE 'queued queue_id=[0-9a-f]+' "$WORK/server.log" | head -n 1 | cut -d= -f2)
[ -n "$QUEUE_ID" ] || fail "postern logged no queue id"
grep -Eq 'attempt_failed .*reason="TLS handshake failed: certificate name mismatch' "$WORK/server.log" ||
  fail "postern logged no attempt_failed with the name mismatch"
still_queued 'certificate name mismatch: wanted mx\.site\.test, certificate names other\.example'
no_leak
log "1. name mismatch: deferred ($QUEUE_ID), reason logged, no message bytes in $(basename "$CAPTURE")"

# --- 2. no STARTTLS -------------------------------------------------------------------------
pf_stop mx
mta none
before=$(deferrals)
capture_start nostarttls
"$POSTERN_BIN" queue -c "$WORK/site.toml" retry "$QUEUE_ID" >/dev/null || fail "postern queue retry"
wait_for 10 "a second deferral" bash -c "[ \$(grep -c 'deferred to=partner@elsewhere.example' '$WORK/server.log') -gt $before ]"
capture_stop
grep "deferred to=partner@elsewhere.example" "$WORK/server.log" | tail -n 1 | grep -q "relay offers no STARTTLS" ||
  fail "the second deferral does not say the relay offers no STARTTLS: $(grep deferred "$WORK/server.log" | tail -n 1)"
still_queued 'relay offers no STARTTLS'
no_leak
grep -aq "QUIT" "$CAPTURE" || fail "postern did not end the plaintext session with QUIT"
! grep -aq "STARTTLS" "$CAPTURE" || fail "Postfix offered STARTTLS in case 2 (configured without --tls)"
log "2. no STARTTLS: deferred, reason logged, plaintext stopped after EHLO (no MAIL FROM) in $(basename "$CAPTURE")"

# --- 3. the right certificate and STARTTLS: the same message goes out once -----------------
pf_stop mx
mta mx
capture_start good
"$POSTERN_BIN" queue -c "$WORK/site.toml" retry "$QUEUE_ID" >/dev/null || fail "postern queue retry"
pf_wait_delivered mx partner 1 15
wait_for_log 10 "$WORK/server.log" "relayed to=partner@elsewhere\\.example"
capture_stop
sleep 2
delivered=$(pf_messages mx partner)
[ "$(echo "$delivered" | wc -l)" -eq 1 ] || fail "expected exactly one message for partner, got: $delivered"
grep -q "$BODY_MARKER" "$delivered" || fail "partner's message is not ours"
[ "$(grep -cE 'to=<partner@elsewhere\.example>.*status=sent' "$(pf_maillog mx)")" -eq 1 ] ||
  fail "Postfix did not log exactly one delivery to partner@"
grep -q "Subject: tls check $SUBJECT_MARKER" "$delivered" || fail "partner's message lost its Subject"
grep -Eq "relayed.*$QUEUE_ID|$QUEUE_ID.*relayed" "$WORK/server.log" || fail "the relayed message is not $QUEUE_ID"
grep -E 'relay .*ready .*verified=yes' "$WORK/server.log" | grep -q 'TLSv1\.[23]' || fail "postern logged no verified TLS relay"
pf_log_grep mx "TLS connection established from .*192\.168\.50\.1" || fail "Postfix logged no TLS connection from postern"
no_leak
wait_for 10 "an empty queue" bash -c "'$POSTERN_BIN' queue -c '$WORK/site.toml' | grep -q 'Mail queue is empty'"
"$POSTERN_BIN" status -c "$WORK/site.toml" --json >"$WORK/status.json" || fail "postern status"
python3 - "$WORK/status.json" <<'PY' || fail "status counters: $(cat "$WORK/status.json")"
import json, sys
smtp = json.load(open(sys.argv[1]))["smtp"]
assert smtp["relayed"] == 1, smtp
assert smtp["queued"] == 0, smtp
assert smtp["bounced"] == 0, smtp
PY
log "3. verified TLS: $QUEUE_ID delivered once, not on the wire in clear; queue empty; relayed = 1"
log "PASS"
