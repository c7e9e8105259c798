#!/usr/bin/env bash
# Issue 8: mail reaches the site's real mail server. laptop -> tunnel -> postern -> Debian's
# Postfix (in the site LAN, STARTTLS with a certificate from a test CA, SASL required) -> a mailbox
# Postfix delivers to, for a recipient in a non-local domain. Checks:
#  - the delivered message equals what was sent apart from trace headers;
#  - Postfix's log shows the TLS connection and postern's SASL login; postern's log names the
#    relay, TLS version, verified=yes and Postfix's queue id;
#  - one of two recipients refused by Postfix (550 5.1.1 unknown user): the other is delivered,
#    and the sender gets exactly one DSN that Python's email package parses as a
#    delivery-status report naming the failed recipient, Action: failed, Status: 5.1.1;
#  - the queue is empty afterwards (`postern queue`), and `postern status` counts relayed and
#    bounced.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postfix.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
WITH_LAN=1 make_topology
make_pki

pf_make_ca "$WORK/mtaca"
pf_make_cert "$WORK/mtaca" mx mx.site.test 192.168.50.2
pf_create mx "$NS_LAN" 192.168.50.2 --tls "$WORK/mtaca/mx.pem" "$WORK/mtaca/mx.key" \
  --sasl postern "relay secret 7" --require-auth --mailbox partner
pf_start mx
printf '%s\n' "relay secret 7" >"$WORK/relay.pw"
chmod 600 "$WORK/relay.pw"

write_server_config "$WORK/site.toml"
SMTP_HOSTNAME=vpn.site.test append_smtp_config "$WORK/site.toml"
cat >>"$WORK/site.toml" <<CONF
[smtp.relay]
hosts = ["192.168.50.2:25"]
tls = "verify"
ca = "mtaca/ca.pem"
server_name = "mx.site.test"
user = "postern"
password_file = "relay.pw"

[smtp.queue]
retry_min = "1s"
retry_max = "2s"
CONF
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "the SMTP listener" in_laptop bash -c "exec 3<>/dev/tcp/10.77.0.1/587"

# The laptop submits (no AUTH: its tunnel identity "laptop" may send as laptop@example.test).
cat >"$WORK/submit.py" <<'PY'
import smtplib, ssl, sys
from email.message import EmailMessage
msg = EmailMessage()
msg["From"] = "Laptop <laptop@example.test>"
msg["To"] = "partner@elsewhere.example, nobody@elsewhere.example"
msg["Subject"] = "through the site MTA"
msg["Message-ID"] = "<relay-test-1@example.test>"
msg.set_content("Hello partner,\n\nthis went laptop -> tunnel -> postern -> Postfix.\n" + "x" * 3000 + "\n")
raw = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
open(sys.argv[1], "wb").write(raw)
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False  # the test PKI's server certificate names the outer address only
with smtplib.SMTP("10.77.0.1", 587, timeout=20) as s:
    s.starttls(context=ctx)
    refused = s.sendmail("laptop@example.test", ["partner@elsewhere.example", "nobody@elsewhere.example"], raw)
    assert not refused, refused
print("submitted")
PY
in_laptop python3 "$WORK/submit.py" "$WORK/sent.eml" "$WORK/pki/ca.pem" >"$WORK/submit.log" 2>&1 ||
  fail "submission failed: $(tail -n 5 "$WORK/submit.log")"
log "submitted to partner@ and nobody@elsewhere.example"

pf_wait_delivered mx partner 1 20
delivered=$(pf_messages mx partner)
[ "$(echo "$delivered" | wc -l)" -eq 1 ] || fail "expected one message for partner, got: $delivered"

# Equal apart from trace headers: Postfix adds Return-Path, Delivered-To and Received (and
# postern its own Received); what follows must be the sent message (Postfix stores LF ends).
python3 - "$WORK/sent.eml" "$delivered" <<'PY' || fail "the delivered message differs from what was sent"
import sys
sent = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
got = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n")
lines = got.split(b"\n")
i = 0
trace = (b"return-path:", b"delivered-to:", b"received:", b"x-original-to:")
while i < len(lines) and (lines[i].lower().startswith(trace) or lines[i][:1] in (b" ", b"\t")):
    i += 1
rest = b"\n".join(lines[i:])
if rest != sent:
    sys.stderr.write("sent %d bytes, got %d after trace headers\n" % (len(sent), len(rest)))
    sys.exit(1)
PY
log "delivered byte-exact apart from trace headers"

pf_log_grep mx "TLS connection established from .*192\.168\.50\.1" || fail "Postfix logged no TLS connection from postern"
pf_log_grep mx "sasl_username=postern" || fail "Postfix logged no SASL login by postern"
wait_for_log 10 "$WORK/server.log" 'relayed .*to=partner@elsewhere\.example'
grep -E 'relay.*verified=yes' "$WORK/server.log" | grep -q 'TLSv1\.[23]' || fail "postern logged no verified TLS relay attempt"
grep -Eq 'relay_id=[0-9A-Za-z]+' "$WORK/server.log" || fail "postern logged no relay queue id"
log "Postfix saw TLS + SASL; postern logged the verified relay and Postfix's queue id"

# The refused recipient: one DSN back to laptop@example.test (a local mailbox).
wait_for 20 "the bounce in laptop's Maildir" bash -c "[ -n \"\$(find '$WORK/maildir/laptop@example.test/new' -type f 2>/dev/null)\" ]"
sleep 1
bounces=$(find "$WORK/maildir/laptop@example.test/new" -type f)
[ "$(echo "$bounces" | wc -l)" -eq 1 ] || fail "expected exactly one DSN, got: $bounces"
python3 - "$bounces" <<'PY' || fail "the DSN is not a delivery-status report for nobody@elsewhere.example"
import email, sys
from email import policy
msg = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=policy.compat32)
assert msg.get_content_type() == "multipart/report", msg.get_content_type()
assert msg.get_param("report-type") == "delivery-status", msg.get_param("report-type")
status = [p for p in msg.walk() if p.get_content_type() == "message/delivery-status"]
assert len(status) == 1, "no message/delivery-status part"
blocks = status[0].get_payload()
per_rcpt = [b for b in blocks if b.get("Final-Recipient")]
assert len(per_rcpt) == 1, [dict(b) for b in blocks]
r = per_rcpt[0]
assert "nobody@elsewhere.example" in r["Final-Recipient"], r["Final-Recipient"]
assert r["Action"].strip() == "failed", r["Action"]
assert r["Status"].strip() == "5.1.1", r["Status"]
assert "550" in r.get("Diagnostic-Code", ""), r.get("Diagnostic-Code")
assert "partner@" not in str(status[0]), "the delivered recipient is in the DSN"
assert msg["Auto-Submitted"], "no Auto-Submitted header"
print("dsn ok:", r["Final-Recipient"], r["Status"], r.get("Remote-MTA"))
PY
log "one DSN, parsed by Python's email package: nobody@ failed with 5.1.1"

wait_for 10 "an empty queue" bash -c "'$POSTERN_BIN' queue -c '$WORK/site.toml' | grep -q 'Mail queue is empty'"
"$POSTERN_BIN" status -c "$WORK/site.toml" --json >"$WORK/status.json" || fail "postern status"
python3 - "$WORK/status.json" <<'PY' || fail "status counters: $(cat "$WORK/status.json")"
import json, sys
smtp = json.load(open(sys.argv[1]))["smtp"]
assert smtp["relayed"] == 1, smtp
assert smtp["bounced"] == 1, smtp
assert smtp["queued"] == 0, smtp
PY
log "PASS"
