#!/usr/bin/env bash
# Issue 9: a real Dovecot serves what postern delivered, unchanged. The certificate-only laptop
# submits (no AUTH, through the tunnel) an 8-bit, long message from laptop@example.test to
# alice@example.test; postern delivers it with maildir_mode = "0660", maildir_group = "mail".
# Checked: the file is 0660 group mail and the mailbox directories 02770 group mail; Dovecot
# (dovecot.sh, in the site namespace, uid/gid mail) logs alice in over IMAP and Python imaplib's
# FETCH BODY.PEEK[] returns exactly the bytes of the file postern wrote (Received header included),
# RFC822.SIZE agrees, the body is what the laptop sent, and Dovecot logged no error.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/dovecot.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
command -v dovecot >/dev/null || skip "dovecot is not installed (Debian: dovecot-imapd)"
getent group mail >/dev/null || skip "there is no group 'mail'"
if [ "$(id -u mail 2>/dev/null)" != 8 ] || [ "$(getent group mail | cut -d: -f3)" != 8 ]; then
  skip "this test expects Debian's mail user and group (uid/gid 8; dovecot.sh's userdb)"
fi
make_topology
make_pki

write_server_config "$WORK/site.toml"
append_smtp_config "$WORK/site.toml" 'recipients = "recipients.map"' 'maildir_mode = "0660"' 'maildir_group = "mail"'
printf 'alice@example.test\n' >"$WORK/recipients.map"
chmod 644 "$WORK/recipients.map"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "the SMTP listener" in_laptop bash -c "exec 3<>/dev/tcp/10.77.0.1/587"

# The message: 8-bit UTF-8 text (BODY=8BITMIME), lines starting with "." (dot-stuffing), a line
# of 998 octets (RFC 5321 4.5.3.1.6), ~300 KB in all. Written with CRLF, as sent on the wire.
SUBJECT="md-$$"
python3 - "$WORK/sent.eml" "$SUBJECT" <<'PY'
import random, sys
path, subject = sys.argv[1], sys.argv[2]
rng = random.Random(9)
words = ["Grüße", "naïve", "façade", "Ελληνικά", "日本語", "plain", "ascii", "mail", "tunnel", "€uro"]
lines = [f"From: Laptop <laptop@example.test>", "To: Alice <alice@example.test>", f"Subject: {subject}",
         f"Message-ID: <{subject}@laptop.test>", "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", ""]
for i in range(4000):
    line = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
    if i % 97 == 0: line = "." + line
    if i % 500 == 0: line = "."
    lines.append(line)
lines.append("x" * 998)
lines.append("end")
open(path, "wb").write(("\r\n".join(lines) + "\r\n").encode())
PY
in_laptop python3 - "$WORK/pki/ca.pem" "$WORK/sent.eml" <<'PY' >"$WORK/submit.out" 2>&1 || fail "submission failed: $(cat "$WORK/submit.out")"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.check_hostname = False  # the certificate names the outer address; the chain is verified
s = smtplib.SMTP("10.77.0.1", 587, local_hostname="laptop.test", timeout=30)
s.starttls(context=ctx)
s.sendmail("laptop@example.test", ["alice@example.test"], open(sys.argv[2], "rb").read(),
           mail_options=["BODY=8BITMIME"])
s.quit()
print("accepted")
PY
log "submitted $(wc -c <"$WORK/sent.eml") bytes through the tunnel, no AUTH"

box="$WORK/maildir/alice@example.test"
wait_for 15 "delivery to alice's Maildir" bash -c "ls '$box/new/' 2>/dev/null | grep -q ."
sleep 0.5
files=("$box"/new/*)
[ "${#files[@]}" -eq 1 ] || fail "expected one file in $box/new, found ${#files[@]}"
delivered=${files[0]}
# Before Dovecot opens the mailbox: SELECT moves the file to cur/.
cp "$delivered" "$WORK/delivered.eml"
name=$(basename "$delivered")
log "delivered $name"

# Ownership and modes, as the IMAP server needs them.
[ "$(stat -c '%a %G' "$delivered")" = "660 mail" ] || fail "delivered file is $(stat -c '%a %U:%G' "$delivered"), expected 660 group mail"
for d in "$WORK/maildir" "$box" "$box/new" "$box/cur" "$box/tmp"; do
  [ "$(stat -c '%a %G' "$d")" = "2770 mail" ] || fail "$d is $(stat -c '%a %U:%G' "$d"), expected 2770 group mail"
done
log "file 0660 $(stat -c '%U:%G' "$delivered"); directories 02770 group mail"

# The file is the Received header postern added, then the message exactly as sent.
python3 - "$WORK/sent.eml" "$WORK/delivered.eml" <<'PY' || fail "the delivered file is not Received + the sent message"
import sys
sent, got = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
assert got.startswith(b"Received: "), got[:80]
assert b"(tunnel user laptop)" in got.split(sent[:20])[0], got[:400]
assert got.endswith(sent), "body differs"
assert got.count(sent) == 1
PY

dovecot_start "$NS_SITE" "$WORK/maildir" alice@example.test "alice imap password"
log "dovecot up on $DOVECOT_ADDRESS:$DOVECOT_PORT"
in_site python3 - "$DOVECOT_ADDRESS" "$DOVECOT_PORT" "$WORK/delivered.eml" "$SUBJECT" <<'PY' >"$WORK/imap.out" 2>&1 ||
import imaplib, re, sys
host, port, path, subject = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
want = open(path, "rb").read()
m = imaplib.IMAP4(host, port, timeout=20)
m.login("alice@example.test", "alice imap password")
typ, data = m.select("INBOX")
assert typ == "OK" and data[0] == b"1", (typ, data)
typ, data = m.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
assert typ == "OK", (typ, data)
meta, body = data[0]
size = int(re.search(rb"RFC822\.SIZE (\d+)", meta).group(1))
if body != want:
    i = next((k for k in range(min(len(body), len(want))) if body[k] != want[k]), min(len(body), len(want)))
    sys.exit(f"IMAP body differs from the file at byte {i}: imap {len(body)} bytes {body[i-20:i+20]!r}, "
             f"file {len(want)} bytes {want[i-20:i+20]!r}")
assert size == len(want), f"RFC822.SIZE {size}, file {len(want)} bytes"
typ, data = m.fetch("1", "(RFC822)")
assert typ == "OK" and data[0][1] == want, "RFC822 differs from the file"
typ, data = m.search(None, "HEADER", "Subject", subject)
assert data[0] == b"1", data
m.logout()
print(f"imap: {len(body)} bytes, identical to the file, RFC822.SIZE {size}")
PY
  fail "IMAP check: $(cat "$WORK/imap.out")"
log "$(cat "$WORK/imap.out")"

# Dovecot moved the file to cur/ (it could write the group-owned mailbox) and left it unchanged.
moved=("$box"/cur/"$name"*)
[ -f "${moved[0]}" ] || fail "Dovecot did not move $name to cur/ (no write access to the mailbox?)"
cmp -s "${moved[0]}" "$WORK/delivered.eml" || fail "the file in cur/ differs from what postern wrote"
dovecot_stop
# (The master's own "Warning: Killed with signal 15" is dovecot_stop's TERM.)
problems=$(grep -Ei '(error|fatal|panic|warning)' "$WORK/dovecot.log" | grep -v 'master: Warning: Killed with signal 15' || true)
[ -z "$problems" ] || fail "Dovecot logged problems: $(head -5 <<<"$problems")"
log "Dovecot moved it to cur/ unchanged and logged no errors"
log "PASS"
