#!/usr/bin/env bash
# Issue 9 end to end: the tunnel identity is the mail identity (docs/smtp-identity.md). A laptop
# that logged into the tunnel with its certificate only (CN "laptop") submits to the server's
# [smtp] listener through the tunnel, with no SMTP AUTH, and:
#   1. laptop@example.test -> alice is accepted and delivered; Received: names "tunnel user laptop";
#   2. MAIL FROM ceo@example.test gets 553 5.7.1 naming user laptop;
#   3. anyone@sales.example.test (sender map wildcard) is accepted;
#   4. AUTH PLAIN as bob, with bob's right password, gets 535 (the tunnel belongs to laptop);
#   5. nobody@example.test gets 550 5.1.1, and no mailbox directory appears for it;
#   6. the alias team@ fans out to alice and bob, exactly one copy each;
#   7. the (messages_per_hour + 1)-th message gets 450 4.7.1, and postern status counts it;
#   8. a second server with [tunnel] auth = "both" refuses the laptop certificate with bob's
#      password ("certificate identity does not match the password user") and accepts it with
#      the laptop's own password (control: the refusal is the mismatch, not the setup).
# SMTP is driven by Python smtplib from the laptop namespace, always after STARTTLS (the server
# certificate is checked against the test CA; its name is the outer address, so no name check).
source "$(dirname "$0")/lib.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
make_topology
make_pki

LIMIT=4   # [smtp] messages_per_hour
printf 'bob password 1\n' | "$POSTERN_BIN" user add "$WORK/mail-users.db" bob >/dev/null || fail "user add bob"
cat >"$WORK/senders.map" <<'MAP'
# laptop may also use every address of sales.example.test
laptop: *@sales.example.test
MAP
cat >"$WORK/recipients.map" <<'MAP'
alice@example.test
laptop@example.test
bob@example.test
team@example.test: alice@example.test, bob@example.test
MAP
chmod 644 "$WORK/senders.map" "$WORK/recipients.map"

write_server_config "$WORK/site.toml"
append_smtp_config "$WORK/site.toml" 'users = "mail-users.db"' 'senders = "senders.map"' \
  'recipients = "recipients.map"' "messages_per_hour = $LIMIT"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "the SMTP listener" in_laptop bash -c "exec 3<>/dev/tcp/10.77.0.1/587"

# smtp_try ARGS...: one SMTP session from the laptop (EHLO, STARTTLS, EHLO, then what ARGS ask:
# --auth USER with SMTP_PASSWORD in the environment, --from, --to (repeatable), --subject).
# Prints one line per command: "<VERB> <code> <text>"; the message is sent only if a RCPT got 250.
# The Subject is also the Message-ID's left part, so each message is found by it in the Maildir.
smtp_try() {
  in_laptop python3 - "$WORK/pki/ca.pem" "$@" <<'PY'
import argparse, base64, os, smtplib, ssl, sys
p = argparse.ArgumentParser()
p.add_argument("ca"); p.add_argument("--from", dest="sender"); p.add_argument("--to", action="append", default=[])
p.add_argument("--auth"); p.add_argument("--subject", default="test")
a = p.parse_args()
ctx = ssl.create_default_context(cafile=a.ca)
ctx.check_hostname = False  # the certificate names the outer address 10.200.0.2; the chain is verified
def show(verb, reply):
    print(verb, reply[0], reply[1].decode(errors="replace").replace("\n", " "), flush=True)
    return reply[0]
s = smtplib.SMTP("10.77.0.1", 587, local_hostname="laptop.test", timeout=20)
s.ehlo(); show("STARTTLS", s.starttls(context=ctx)); s.ehlo()
if a.auth:
    token = base64.b64encode(b"\0" + a.auth.encode() + b"\0" + os.environ["SMTP_PASSWORD"].encode()).decode()
    show("AUTH", s.docmd("AUTH", "PLAIN " + token))
if a.sender is not None and show("MAIL", s.mail(a.sender)) == 250:
    accepted = [t for t in a.to if show("RCPT " + t, s.rcpt(t)) == 250]
    if accepted:
        msg = (f"From: <{a.sender}>\r\nTo: {', '.join(a.to)}\r\nSubject: {a.subject}\r\n"
               f"Message-ID: <{a.subject}@laptop.test>\r\n\r\nbody of {a.subject}\r\n")
        show("DATA", s.data(msg))
s.quit()
PY
}
SENT=0   # messages this test had accepted (250 after DATA): the rate limit counts them
# expect OUTPUT REGEX WHAT: fails unless a line of OUTPUT matches REGEX
expect() { grep -Eq "$2" <<<"$1" || fail "$3; the session said: $(tr '\n' '|' <<<"$1")"; }
# files_with SUBJECT MAILBOX: the delivered files (new/) of MAILBOX carrying that Subject
files_with() { grep -lsx "Subject: $1"$'\r' "$WORK/maildir/$2/new/"* 2>/dev/null || true; }
count_with() { files_with "$1" "$2" | grep -c . || true; }
wait_delivered() { wait_for 15 "delivery of $1 to $2" bash -c "grep -qsx 'Subject: $1'\$'\\r' '$WORK/maildir/$2/new/'*"; }

# 1. No AUTH: the tunnel identity is enough; the Received header names it.
out=$(smtp_try --from laptop@example.test --to alice@example.test --subject "mi-own-$$")
expect "$out" '^MAIL 250' "MAIL FROM laptop@example.test refused"
expect "$out" '^DATA 250' "own-address message not accepted"
SENT=$((SENT + 1))
wait_delivered "mi-own-$$" alice@example.test
file=$(files_with "mi-own-$$" alice@example.test)
received=$(sed -n '/^Received:/,/^[^ \t]/p' "$file" | sed '$d' | tr -d '\r\n')
grep -q "tunnel user laptop" <<<"$received" || fail "Received header does not name the tunnel user: $received"
grep -Eq ' mail from=<?laptop@example.test>? identity=laptop via=tunnel' "$WORK/server.log" ||
  fail "no 'mail ... identity=laptop via=tunnel' line in the server log"
log "1. no AUTH, own address accepted; $received"

# 2. Another user's address.
out=$(smtp_try --from ceo@example.test --to alice@example.test --subject "mi-ceo-$$")
expect "$out" '^MAIL 553 5\.7\.1 .*user laptop' "MAIL FROM ceo@example.test not refused 553 5.7.1 naming laptop"
log "2. $(grep '^MAIL' <<<"$out")"

# 3. The sender map's wildcard.
out=$(smtp_try --from anyone@sales.example.test --to alice@example.test --subject "mi-sales-$$")
expect "$out" '^DATA 250' "wildcard sender anyone@sales.example.test not accepted"
SENT=$((SENT + 1))
wait_delivered "mi-sales-$$" alice@example.test
log "3. wildcard sender anyone@sales.example.test accepted and delivered"

# 4. AUTH as someone else over the laptop's tunnel, with that someone's right password.
out=$(SMTP_PASSWORD='bob password 1' smtp_try --auth bob)
expect "$out" '^STARTTLS 220' "STARTTLS failed"
expect "$out" '^AUTH 535 .*laptop' "AUTH as bob over laptop's tunnel not refused 535"
log "4. $(grep '^AUTH' <<<"$out")"

# 5. Unknown local recipient: refused at RCPT, and no directory is made for it.
out=$(smtp_try --from laptop@example.test --to nobody@example.test --subject "mi-nobody-$$")
expect "$out" '^RCPT nobody@example.test 550 5\.1\.1' "nobody@example.test not refused 550 5.1.1"
grep -q '^DATA' <<<"$out" && fail "a message with no valid recipient reached DATA"
log "5. $(grep '^RCPT' <<<"$out")"

# 6. The alias fans out to two mailboxes, exactly once each.
out=$(smtp_try --from laptop@example.test --to team@example.test --subject "mi-team-$$")
expect "$out" '^DATA 250' "message to team@example.test not accepted"
SENT=$((SENT + 1))
wait_delivered "mi-team-$$" alice@example.test
wait_delivered "mi-team-$$" bob@example.test
sleep 1   # a duplicate would land right after the first copy
for box in alice@example.test bob@example.test; do
  n=$(count_with "mi-team-$$" "$box")
  [ "$n" -eq 1 ] || fail "team@ alias: $n copies in $box, expected 1"
done
[ ! -e "$WORK/maildir/team@example.test" ] || fail "a mailbox directory was made for the alias team@example.test"
[ ! -e "$WORK/maildir/nobody@example.test" ] || fail "a mailbox directory was made for nobody@example.test"
log "6. team@ delivered once to alice and once to bob; no directory for team@ or nobody@"

# 7. The hourly limit: messages up to LIMIT pass, the next one gets 450 4.7.1 at MAIL.
while [ "$SENT" -lt "$LIMIT" ]; do
  out=$(smtp_try --from laptop@example.test --to bob@example.test --subject "mi-fill-$SENT-$$")
  expect "$out" '^DATA 250' "message $((SENT + 1)) of $LIMIT refused before the limit"
  SENT=$((SENT + 1))
done
out=$(smtp_try --from laptop@example.test --to bob@example.test --subject "mi-over-$$")
expect "$out" '^MAIL 450 4\.7\.1 .*laptop' "message $((LIMIT + 1)) not refused 450 4.7.1"
grep -q '^DATA' <<<"$out" && fail "message over the limit reached DATA"
status=$("$POSTERN_BIN" status --socket "$WORK/server.sock" --json) || fail "postern status failed"
rl=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["smtp"]["rate_limited_messages"])' <<<"$status") ||
  fail "no smtp.rate_limited_messages in: $status"
[ "$rl" -ge 1 ] || fail "postern status rate_limited_messages=$rl, expected >= 1"
log "7. after $SENT messages: $(grep '^MAIL' <<<"$out"); status rate_limited_messages=$rl"

# 8. auth = "both": the certificate must belong to the password user.
kill "$CLIENT_PID" 2>/dev/null || true; wait "$CLIENT_PID" 2>/dev/null || true
kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true
mv "$WORK/server.log" "$WORK/server-smtp.log"
wait_for 10 "the first server's tunnel interface to go" bash -c "! ip -n $NS_SITE link show pst0"
printf 'bob password 1\n' | "$POSTERN_BIN" user add "$WORK/tunnel-users.db" bob >/dev/null || fail "user add bob"
printf 'laptop password 1\n' | "$POSTERN_BIN" user add "$WORK/tunnel-users.db" laptop >/dev/null || fail "user add laptop"
printf 'bob password 1\n' >"$WORK/bob.pass"
printf 'laptop password 1\n' >"$WORK/laptop.pass"
chmod 600 "$WORK/bob.pass" "$WORK/laptop.pass"
write_server_config "$WORK/site-both.toml" 'auth = "both"' 'users = "tunnel-users.db"'
start_server "$WORK/site-both.toml"
wait_for 10 "server (auth = both)" in_site ip link show pst0
try_client mismatch 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  'user = "bob"' 'password_file = "bob.pass"' && fail "laptop certificate with bob's password accepted under auth = both"
wait_for_log 5 "$WORK/server.log" 'certificate identity does not match the password user'
log "8. laptop certificate + user bob refused: $(grep -m1 'certificate identity does not match' "$WORK/server.log")"
try_client matching 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  'user = "laptop"' 'password_file = "laptop.pass"' || fail "laptop certificate with laptop's own password refused under auth = both"
log "8. laptop certificate + user laptop accepted (control)"
log "PASS"
