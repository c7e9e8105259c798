#!/usr/bin/env bash
# Issue 8: the site's Postfix is down for 30 s. laptop -> tunnel -> postern, relay to a Postfix in
# the site LAN that is stopped (nothing listens on 192.168.50.2:25). Checks:
#  - the submission still gets 250 (postern queues it), and within seconds `postern queue` shows
#    partner@ pending, attempts >= 2 (retry_min 2 s), last error "relay unavailable: ...
#    connect failed: Connection refused", in the text listing and in --json;
#  - kill -9 of postern while the message is deferred: `postern queue` with no server running
#    reads the spool ("source": "spool") and still lists it, with no fewer attempts;
#  - after a restart the attempt count carries on (it is more than before, never back to 0) and
#    age_seconds is measured from the original submission, not from the restart;
#  - when Postfix returns (30 s after it stopped) the message is delivered exactly once (one file
#    in partner's mailbox, still one a few seconds later, one `relayed` line in postern's log, one
#    status=sent in Postfix's), the queue is empty and `postern status` counts relayed = 1.
# No SASL here: Postfix lets the site's LAN address relay (mynetworks), so the test is about the
# queue, not the AUTH (relay_postfix.sh covers that). STARTTLS is still verified, against the
# harness's test CA (tests/netns/postfix.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
WITH_LAN=1 make_topology
make_pki

pf_make_ca "$WORK/mtaca"
pf_make_cert "$WORK/mtaca" mx mx.site.test 192.168.50.2
pf_create mx "$NS_LAN" 192.168.50.2 --tls "$WORK/mtaca/mx.pem" "$WORK/mtaca/mx.key" \
  --mynetworks "127.0.0.0/8 192.168.50.0/24" --mailbox partner
pf_start mx

write_server_config "$WORK/site.toml"
SMTP_HOSTNAME=vpn.site.test append_smtp_config "$WORK/site.toml"
cat >>"$WORK/site.toml" <<CONF
[smtp.relay]
hosts = ["192.168.50.2:25"]
tls = "verify"
ca = "mtaca/ca.pem"
server_name = "mx.site.test"

[smtp.queue]
retry_min = "2s"
retry_max = "4s"
CONF
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "the SMTP listener" in_laptop bash -c "exec 3<>/dev/tcp/10.77.0.1/587"

pf_stop mx
stopped_at=$(date +%s.%N)
log "Postfix stopped"

cat >"$WORK/submit.py" <<'PY'
import smtplib, ssl, sys
from email.message import EmailMessage
msg = EmailMessage()
msg["From"] = "Laptop <laptop@example.test>"
msg["To"] = "partner@elsewhere.example"
msg["Subject"] = "sent while the site MTA was down"
msg["Message-ID"] = "<relay-outage-1@example.test>"
msg.set_content("Hello partner,\n\nthis waited in postern's queue until Postfix came back.\n")
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.check_hostname = False  # the test PKI's server certificate names the outer address only
with smtplib.SMTP("10.77.0.1", 587, timeout=20) as s:
    s.starttls(context=ctx)
    s.send_message(msg, "laptop@example.test", ["partner@elsewhere.example"])
    print(s.noop())  # the 250 to DATA was checked by send_message (it raises otherwise)
PY
in_laptop python3 "$WORK/submit.py" "$WORK/pki/ca.pem" >"$WORK/submit.log" 2>&1 ||
  fail "submission failed: $(tail -n 5 "$WORK/submit.log")"
submitted_at=$(date +%s.%N)
log "submitted to partner@elsewhere.example (250 from postern)"

# check_queue FILE MIN_ATTEMPTS SOURCE: one message, partner@ pending with the relay's error and at
# least MIN_ATTEMPTS attempts, listed by SOURCE (daemon|spool); prints "attempts age_seconds".
check_queue() {
  python3 - "$@" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
min_attempts, source = int(sys.argv[2]), sys.argv[3]
assert doc["source"] == source, doc["source"]
assert len(doc["messages"]) == 1, doc["messages"]
m = doc["messages"][0]
assert m["sender"] == "laptop@example.test", m["sender"]
assert m["attempts"] >= min_attempts, (m["attempts"], min_attempts)
[r] = m["recipients"]
assert r["address"] == "partner@elsewhere.example", r
assert r["state"] == "pending", r
err = r["last_error"]
assert "relay unavailable" in err and "Connection refused" in err, err
print(m["attempts"], m["age_seconds"])
PY
}
queue_json() { "$POSTERN_BIN" queue -c "$WORK/site.toml" --json list >"$WORK/queue.json" 2>"$WORK/queue.err"; }
# attempts_at_least N: the running server lists the message with N or more attempts. (Polls the
# queue, not the log: the runner logs "deferred" just before it writes the attempt's records.)
attempts_at_least() {
  "$POSTERN_BIN" queue -c "$WORK/site.toml" --json list |
    python3 -c "import json,sys; m=json.load(sys.stdin)['messages']; sys.exit(0 if m and m[0]['attempts'] >= $1 else 1)"
}

# Two attempts (the one at submission, one retry_min later) before the checks, so the count has moved.
wait_for 8 "a second deferred attempt" attempts_at_least 2
"$POSTERN_BIN" queue -c "$WORK/site.toml" >"$WORK/queue.txt" || fail "postern queue"
grep -q 'partner@elsewhere.example \[pending\]' "$WORK/queue.txt" || fail "postern queue shows no pending partner@: $(cat "$WORK/queue.txt")"
grep -q 'relay unavailable.*Connection refused' "$WORK/queue.txt" || fail "postern queue shows no reason: $(cat "$WORK/queue.txt")"
grep -Eq 'attempts [2-9]' "$WORK/queue.txt" || fail "postern queue shows no attempt: $(cat "$WORK/queue.txt")"
queue_json || fail "postern queue --json list: $(cat "$WORK/queue.err")"
read -r attempts_before _ < <(check_queue "$WORK/queue.json" 2 daemon) || fail "queue while deferred: $(cat "$WORK/queue.json")"
log "deferred, attempts $attempts_before, last error: $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['messages'][0]['recipients'][0]['last_error'])" "$WORK/queue.json")"

# kill -9 while deferred; with no server running the listing comes from the spool.
server=$(postern_pid "$NS_SITE") || fail "no postern process in the site namespace"
kill -9 "$server"
wait "$SERVER_PID" 2>/dev/null || true
mv "$WORK/server.log" "$WORK/server-first.log"
queue_json || fail "postern queue --json list without a server: $(cat "$WORK/queue.err")"
read -r attempts_spool _ < <(check_queue "$WORK/queue.json" "$attempts_before" spool) ||
  fail "queue read from the spool after kill -9: $(cat "$WORK/queue.json")"
log "server killed; the spool still holds it with $attempts_spool attempts"

# Down for a few seconds, so an age counted from the restart would be visibly too small.
sleep 4
wait_for 5 "the old pst0 to go away" bash -c "! ip -n $NS_SITE link show pst0"
start_server "$WORK/site.toml"
restarted_at=$(date +%s.%N)
wait_for 10 "the restarted server's status socket" "$POSTERN_BIN" status -c "$WORK/site.toml"
wait_for 10 "an attempt by the restarted server" attempts_at_least $((attempts_spool + 1))
queue_json || fail "postern queue --json list after the restart: $(cat "$WORK/queue.err")"
read -r attempts_after age_after < <(check_queue "$WORK/queue.json" $((attempts_spool + 1)) daemon) ||
  fail "queue after the restart (attempts must exceed $attempts_spool): $(cat "$WORK/queue.json")"
python3 - "$age_after" "$submitted_at" "$restarted_at" <<'PY' || fail "age_seconds $age_after is not measured from the submission"
import sys, time
age, submitted, restarted = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
since_submit, since_restart = time.time() - submitted, time.time() - restarted
# The 250 came just before submitted_at; the listing was taken just before now.
assert since_submit - 3 <= age <= since_submit + 1, (age, since_submit)
assert age > since_restart + 4, (age, since_restart)
PY
log "after the restart: attempts $attempts_spool -> $attempts_after, age ${age_after}s (from the submission)"

# 30 s of outage in all, then Postfix returns.
sleep "$(python3 -c "import time; print(max(0.0, 30 - (time.time() - $stopped_at)))")"
pf_start mx
log "Postfix back after $(python3 -c "import time; print(f'{time.time() - $stopped_at:.1f}')")s"
"$POSTERN_BIN" queue -c "$WORK/site.toml" --json list >"$WORK/queue.json" || fail "postern queue"
python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['messages']; assert len(m)==1 and m[0]['attempts']>=$attempts_after" \
  "$WORK/queue.json" || fail "the message left the queue during the outage: $(cat "$WORK/queue.json")"

pf_wait_delivered mx partner 1 15
log "delivered $(python3 -c "import time; print(f'{time.time() - $submitted_at:.1f}')")s after the submission"
sleep 4  # a second delivery would come within one retry_max
delivered=$(pf_messages mx partner)
[ "$(echo "$delivered" | wc -l)" -eq 1 ] || fail "expected exactly one message for partner, got: $delivered"
grep -q "Subject: sent while the site MTA was down" "$delivered" || fail "partner's message is not ours"
[ "$(grep -c 'relayed .*to=partner@elsewhere\.example' "$WORK/server.log")" -eq 1 ] ||
  fail "postern did not log exactly one relay of the message"
[ "$(grep -cE 'to=<partner@elsewhere\.example>.*status=sent' "$(pf_maillog mx)")" -eq 1 ] ||
  fail "Postfix did not log exactly one delivery to partner@"
pf_log_grep mx "TLS connection established from .*192\.168\.50\.1" || fail "Postfix logged no TLS connection from postern"

wait_for 10 "an empty queue" bash -c "'$POSTERN_BIN' queue -c '$WORK/site.toml' | grep -q 'Mail queue is empty'"
"$POSTERN_BIN" status -c "$WORK/site.toml" --json >"$WORK/status.json" || fail "postern status"
python3 - "$WORK/status.json" <<'PY' || fail "status counters: $(cat "$WORK/status.json")"
import json, sys
smtp = json.load(open(sys.argv[1]))["smtp"]
assert smtp["relayed"] == 1, smtp
assert smtp["queued"] == 0, smtp
PY
log "delivered exactly once; queue empty; relayed = 1"
log "PASS"
