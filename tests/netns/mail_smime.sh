#!/usr/bin/env bash
# Issue 15 end to end (docs/smime.md): S/MIME from the site's own PKI, through the tunnel.
#   1. `pki issue --email` for alice (EC; also her tunnel certificate), bob (RSA 3072) and carol;
#      each .p12 opens with `openssl pkcs12` under its password (and not under a wrong one) and
#      holds the certificate and key `pki issue` wrote;
#   2. over alice's tunnel, `postern send --sign --encrypt-to bob.pem --attach blob.bin` (random
#      binary bytes) is delivered to bob's Maildir byte-exact (the file minus the server's
#      Received: header equals `--save`'s copy); the site sees only ciphertext (neither the body
#      nor the attachment's name is in the file), AES-256-GCM AuthEnvelopedData (openssl cms
#      -cmsout -print);
#   3. `openssl cms -decrypt` (bob's key) then `openssl cms -verify -CAfile ca.pem` open it, and
#      the attachment comes out bit-exact; `postern smime open` (bob's .p12, the CA from the
#      server's and from the laptop's config, stdin) exits 0 naming alice and aes-256-gcm, and
#      its --out has the attachment bit-exact; alice opens her own copy;
#   4. one byte altered in the Maildir copy: both tools fail (postern: 6, the GCM tag); a
#      signed-only message altered by one byte in its attachment: `openssl cms -verify` fails and
#      postern exits 3; verified against another CA: openssl fails, postern exits 4;
#   5. encrypted to carol: bob's key opens it in neither tool (postern: 6), carol's does
#      (control); with --require-signed it exits 8 (not signed); a plain message exits 7.
source "$(dirname "$0")/lib.sh"
require_root
command -v openssl >/dev/null || skip "openssl is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
make_topology

PKI="$WORK/pki"
# The server certificate also names the tunnel address, so `postern send --ca` checks it fully.
"$POSTERN_BIN" pki init "$PKI" --server-name 10.200.0.2 --ip 10.77.0.1 >"$WORK/pki.log" 2>&1 || fail "pki init"
printf 'alice p12 pass\n' | "$POSTERN_BIN" pki issue "$PKI" alice --email alice@example.test >>"$WORK/pki.log" 2>&1 ||
  fail "pki issue alice --email"
printf 'bob p12 pass\n' | "$POSTERN_BIN" pki issue "$PKI" bob --email bob@example.test --key-type rsa \
  >>"$WORK/pki.log" 2>&1 || fail "pki issue bob --email --key-type rsa"
"$POSTERN_BIN" pki issue "$PKI" carol --email carol@example.test --no-p12 >>"$WORK/pki.log" 2>&1 ||
  fail "pki issue carol --email --no-p12"
chmod 755 "$PKI"

# 1. The bundles open with openssl pkcs12, and hold what pki issue wrote.
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
for u in alice bob; do
  openssl pkcs12 -in "$PKI/$u.p12" -passin "pass:$u p12 pass" -nodes -out "$WORK/$u.p12.pem" 2>"$WORK/p12.err" ||
    fail "openssl pkcs12 cannot open $u.p12 with its password: $(cat "$WORK/p12.err")"
  openssl pkcs12 -in "$PKI/$u.p12" -passin "pass:wrong" -nodes -out /dev/null 2>/dev/null &&
    fail "openssl pkcs12 opened $u.p12 with a wrong password"
  openssl pkcs12 -in "$PKI/$u.p12" -passin "pass:$u p12 pass" -nokeys -clcerts -out "$WORK/$u.p12.crt" 2>/dev/null
  [ "$(fingerprint "$WORK/$u.p12.crt")" = "$(fingerprint "$PKI/$u.pem")" ] || fail "$u.p12 holds another certificate"
  [ "$(openssl pkey -in "$WORK/$u.p12.pem" -pubout)" = "$(openssl pkey -in "$PKI/$u.key" -pubout)" ] ||
    fail "$u.p12 holds another key"
  grep -c 'BEGIN CERTIFICATE' "$WORK/$u.p12.pem" | grep -qx 2 || fail "$u.p12 lacks the CA certificate"
done
log "1. alice.p12 and bob.p12 open with openssl pkcs12 (and not with a wrong password): certificate, key, CA"

cat >"$WORK/recipients.map" <<'MAP'
alice@example.test
bob@example.test
carol@example.test
MAP
chmod 644 "$WORK/recipients.map"
write_server_config "$WORK/site.toml"
append_smtp_config "$WORK/site.toml" 'recipients = "recipients.map"'
# alice's S/MIME certificate is her tunnel certificate too (clientAuth and emailProtection).
write_client_config "$WORK/laptop.toml" 'certificate = "pki/alice.pem"' 'private_key = "pki/alice.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for 10 "the SMTP listener" in_laptop bash -c "exec 3<>/dev/tcp/10.77.0.1/587"

head -c 30000 /dev/urandom >"$WORK/blob.bin"
printf '\0\r\n\377end' >>"$WORK/blob.bin"   # NUL, a CRLF, 0xFF: bytes a text path would mangle
printf 'Hello Bob,\nthe figures are attached. MARKER-%s\n.\nFrom here on\n' "$$" >"$WORK/body.txt"

# send_as SUBJECT SAVE ARGS...: alice submits through the tunnel as herself (no SMTP AUTH: the
# tunnel identity is the mail identity), STARTTLS checked against the site CA.
send_as() {
  local subject=$1 save=$2; shift 2
  in_laptop "$POSTERN_BIN" send --server 10.77.0.1:587 --starttls --ca "$PKI/ca.pem" \
    --from "Alice <alice@example.test>" --subject "$subject" --body "$WORK/body.txt" --save "$save" "$@" \
    >"$WORK/send.log" 2>&1 || fail "postern send ($subject) failed: $(cat "$WORK/send.log")"
  grep -q '^queued as ' "$WORK/send.log" || fail "postern send ($subject) did not say queued: $(cat "$WORK/send.log")"
}
# delivered SUBJECT MAILBOX: waits for and prints the Maildir file of that message
delivered() {
  wait_for 15 "delivery of '$1' to $2" bash -c "grep -lsx 'Subject: $1'\$'\\r' '$WORK/maildir/$2/new/'*"
  grep -lsx "Subject: $1"$'\r' "$WORK/maildir/$2/new/"* | head -n 1
}
# strip_received FILE: the message without the server's leading Received: field (and its folds)
strip_received() {
  python3 - "$1" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
assert data.startswith(b"Received:"), "no Received: field first"
pos = data.index(b"\r\n") + 2
while data[pos:pos + 1] in (b" ", b"\t"):
    pos = data.index(b"\r\n", pos) + 2
sys.stdout.buffer.write(data[pos:])
PY
}
# attachment_sha FILE: SHA-256 of the blob.bin part of a plain MIME message
attachment_sha() {
  python3 - "$1" <<'PY'
import email, email.policy, hashlib, sys
msg = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
parts = [p for p in msg.walk() if p.get_filename() == "blob.bin"]
assert len(parts) == 1, f"{len(parts)} blob.bin parts"
print(hashlib.sha256(parts[0].get_payload(decode=True)).hexdigest())
PY
}
BLOB_SHA=$(sha256sum "$WORK/blob.bin" | cut -d' ' -f1)
# smime_open EXPECTED_STATUS OUTFILE ARGS...: runs postern smime open, fails unless it exits so
smime_open() {
  local want=$1 out=$2 status=0; shift 2
  "$POSTERN_BIN" smime open "$@" >"$out" 2>&1 || status=$?
  [ "$status" -eq "$want" ] || fail "postern smime open $* exited $status, expected $want: $(cat "$out")"
}

# 2. Signed and encrypted, with the binary attachment, delivered byte-exact.
send_as "smime-both-$$" "$WORK/sent-both.eml" --to bob@example.test --attach "$WORK/blob.bin" \
  --sign --smime-cert "$PKI/alice.pem" --smime-key "$PKI/alice.key" --encrypt-to "$PKI/bob.pem"
MSG=$(delivered "smime-both-$$" bob@example.test)
strip_received "$MSG" >"$WORK/delivered-both.eml" || fail "cannot strip the Received: field of $MSG"
cmp -s "$WORK/delivered-both.eml" "$WORK/sent-both.eml" || fail "the Maildir copy differs from the submitted message"
grep -q "MARKER-$$" "$MSG" && fail "the body is readable in the site's Maildir"
grep -q "blob.bin" "$MSG" && fail "the attachment's name is readable in the site's Maildir"
grep -q '^Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data' "$MSG" ||
  fail "not an authEnveloped-data message: $(grep -m1 '^Content-Type' "$MSG")"
openssl cms -cmsout -print -in "$MSG" >"$WORK/cms.txt" 2>&1 || fail "openssl cms -cmsout cannot parse it"
grep -q 'contentType: id-smime-ct-authEnvelopedData' "$WORK/cms.txt" || fail "openssl sees no AuthEnvelopedData"
grep -A1 'contentEncryptionAlgorithm:' "$WORK/cms.txt" | grep -q 'aes-256-gcm' ||
  fail "the content cipher is not AES-256-GCM: $(grep -A1 contentEncryptionAlgorithm "$WORK/cms.txt")"
log "2. signed+encrypted with a $(stat -c %s "$WORK/blob.bin")-byte attachment delivered byte-exact; AES-256-GCM AuthEnvelopedData; body not in the Maildir"

# 3. openssl cms opens it: decrypt with bob's key, then verify against the site CA.
openssl cms -decrypt -in "$MSG" -recip "$PKI/bob.pem" -inkey "$PKI/bob.key" -out "$WORK/ossl-dec.eml" \
  2>"$WORK/ossl.err" || fail "openssl cms -decrypt failed: $(cat "$WORK/ossl.err")"
grep -q '^Content-Type: multipart/signed; protocol="application/pkcs7-signature"' "$WORK/ossl-dec.eml" ||
  fail "the decrypted entity is not multipart/signed"
openssl cms -verify -in "$WORK/ossl-dec.eml" -CAfile "$PKI/ca.pem" -purpose smimesign -out "$WORK/ossl-inner.eml" \
  2>"$WORK/ossl.err" || fail "openssl cms -verify failed: $(cat "$WORK/ossl.err")"
grep -q "Verification successful" "$WORK/ossl.err" || fail "openssl did not say Verification successful"
[ "$(attachment_sha "$WORK/ossl-inner.eml")" = "$BLOB_SHA" ] || fail "openssl's opened attachment differs"
log "3. openssl cms -decrypt then -verify -CAfile: $(cat "$WORK/ossl.err"); attachment bit-exact"

smime_open 0 "$WORK/open.out" "$MSG" -c "$WORK/site.toml" --p12 "$PKI/bob.p12" --out "$WORK/opened.eml" \
  < <(printf 'bob p12 pass\n')
grep -qx 'layers: authEnveloped-data, signed' "$WORK/open.out" || fail "layers not reported: $(cat "$WORK/open.out")"
grep -qx 'encryption: aes-256-gcm, decrypted for CN=bob' "$WORK/open.out" || fail "cipher not reported: $(cat "$WORK/open.out")"
grep -q '^signer: CN=alice <alice@example.test> issued by CN=' "$WORK/open.out" || fail "signer not reported: $(cat "$WORK/open.out")"
grep -q '^signature: intact, signer trusted by ' "$WORK/open.out" || fail "signature not reported intact"
grep -qx 'result: ok' "$WORK/open.out" || fail "no result: ok"
[ "$(attachment_sha "$WORK/opened.eml")" = "$BLOB_SHA" ] || fail "postern's opened attachment differs"
grep -q "MARKER-$$" "$WORK/opened.eml" || fail "postern's opened message lacks the body"
grep -qx "Subject: smime-both-$$"$'\r' "$WORK/opened.eml" || fail "postern's opened message lacks the Subject"
# The CA from the laptop's config, PEM credentials, the message on stdin; alice's own copy.
smime_open 0 "$WORK/open2.out" - -c "$WORK/laptop.toml" --cert "$PKI/bob.pem" --key "$PKI/bob.key" <"$MSG"
smime_open 0 "$WORK/open3.out" "$MSG" --ca "$PKI/ca.pem" --cert "$PKI/alice.pem" --key "$PKI/alice.key"
log "3. postern smime open: exit 0 for bob (.p12, -c site.toml; PEM, -c laptop.toml, stdin) and alice's own copy:"
sed 's/^/     /' "$WORK/open.out"

# 4. One byte altered: a base64 character in the middle of the ciphertext.
alter_line() {  # alter_line IN OUT LINE_NUMBER: one base64 character of that line changed
  python3 - "$@" <<'PY'
import sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(src, "rb").read().split(b"\n")
line = bytearray(lines[n])
line[10] = ord("B") if line[10] != ord("B") else ord("C")
lines[n] = bytes(line)
open(dst, "wb").write(b"\n".join(lines))
PY
}
total=$(wc -l <"$MSG")
alter_line "$MSG" "$WORK/altered-both.eml" $((total - 10))
cmp -s "$MSG" "$WORK/altered-both.eml" && fail "the alteration changed nothing"
[ "$(cmp -l "$MSG" "$WORK/altered-both.eml" | wc -l)" -eq 1 ] || fail "more than one byte altered"
openssl cms -decrypt -in "$WORK/altered-both.eml" -recip "$PKI/bob.pem" -inkey "$PKI/bob.key" -out "$WORK/x.eml" \
  2>"$WORK/ossl.err" && fail "openssl cms -decrypt accepted the altered ciphertext"
smime_open 6 "$WORK/open-alt.out" "$WORK/altered-both.eml" --ca "$PKI/ca.pem" --cert "$PKI/bob.pem" --key "$PKI/bob.key" \
  --out "$WORK/must-not-exist.eml"
[ ! -e "$WORK/must-not-exist.eml" ] || fail "--out was written for a message that did not open"
log "4. one byte altered in the ciphertext: openssl cms -decrypt fails ($(head -n 1 "$WORK/ossl.err")); postern exits 6: $(grep '^result' "$WORK/open-alt.out")"

# Signed only (readable by the site), one byte altered inside the attachment's base64.
send_as "smime-signed-$$" "$WORK/sent-signed.eml" --to bob@example.test --attach "$WORK/blob.bin" \
  --sign --smime-cert "$PKI/alice.pem" --smime-key "$PKI/alice.key"
SIGNED=$(delivered "smime-signed-$$" bob@example.test)
strip_received "$SIGNED" | cmp -s - "$WORK/sent-signed.eml" || fail "the signed message was not delivered byte-exact"
openssl cms -verify -in "$SIGNED" -CAfile "$PKI/ca.pem" -purpose smimesign -out /dev/null 2>"$WORK/ossl.err" ||
  fail "openssl cms -verify refused the intact signed message: $(cat "$WORK/ossl.err")"
smime_open 0 "$WORK/open-signed.out" "$SIGNED" --ca "$PKI/ca.pem"
blob_line=$(grep -n 'filename="blob.bin"' "$SIGNED" | cut -d: -f1)
alter_line "$SIGNED" "$WORK/altered-signed.eml" $((blob_line + 20))
openssl cms -verify -in "$WORK/altered-signed.eml" -CAfile "$PKI/ca.pem" -purpose smimesign -out /dev/null \
  2>"$WORK/ossl.err" && fail "openssl cms -verify accepted the altered signed message"
smime_open 3 "$WORK/open-alt2.out" "$WORK/altered-signed.eml" --ca "$PKI/ca.pem"
grep -q '^signer: CN=alice <alice@example.test>' "$WORK/open-alt2.out" || fail "the claimed signer is not named"
log "4. signed-only, one byte altered in the attachment: openssl -verify fails ($(grep -m1 -o 'digest failure\|verification failure' "$WORK/ossl.err" || head -n1 "$WORK/ossl.err")); postern exits 3"
# The same intact message against a CA that did not issue alice's certificate.
"$POSTERN_BIN" pki init "$WORK/other-pki" --server-name other.test >/dev/null 2>&1 || fail "pki init other"
openssl cms -verify -in "$SIGNED" -CAfile "$WORK/other-pki/ca.pem" -purpose smimesign -out /dev/null 2>"$WORK/ossl.err" &&
  fail "openssl cms -verify trusted alice under another CA"
smime_open 4 "$WORK/open-other.out" "$SIGNED" --ca "$WORK/other-pki/ca.pem"
log "4. another CA: openssl -verify fails, postern exits 4: $(grep '^result' "$WORK/open-other.out")"

# 5. Encrypted to carol: bob's key opens it in neither tool; carol's does.
send_as "smime-carol-$$" "$WORK/sent-carol.eml" --to carol@example.test --attach "$WORK/blob.bin" \
  --smime-cert "$PKI/alice.pem" --encrypt-to "$PKI/carol.pem"
CAROL=$(delivered "smime-carol-$$" carol@example.test)
openssl cms -decrypt -in "$CAROL" -recip "$PKI/bob.pem" -inkey "$PKI/bob.key" -out "$WORK/x.eml" 2>"$WORK/ossl.err" &&
  fail "openssl cms -decrypt opened carol's message with bob's key"
smime_open 6 "$WORK/open-bob.out" "$CAROL" --ca "$PKI/ca.pem" --cert "$PKI/bob.pem" --key "$PKI/bob.key"
openssl cms -decrypt -in "$CAROL" -recip "$PKI/carol.pem" -inkey "$PKI/carol.key" -out "$WORK/ossl-carol.eml" \
  2>"$WORK/ossl.err" || fail "openssl cms -decrypt with carol's key failed: $(cat "$WORK/ossl.err")"
[ "$(attachment_sha "$WORK/ossl-carol.eml")" = "$BLOB_SHA" ] || fail "carol's attachment differs (openssl)"
smime_open 0 "$WORK/open-carol.out" "$CAROL" --ca "$PKI/ca.pem" --cert "$PKI/carol.pem" --key "$PKI/carol.key"
grep -qx 'signature: none (not signed)' "$WORK/open-carol.out" || fail "an unsigned message not reported so"
smime_open 8 "$WORK/open-carol8.out" "$CAROL" --ca "$PKI/ca.pem" --cert "$PKI/carol.pem" --key "$PKI/carol.key" \
  --require-signed
log "5. encrypted to carol: bob's key fails in openssl and postern (exit 6: $(grep '^result' "$WORK/open-bob.out" | cut -c1-80)...); carol's opens (0); --require-signed exits 8"

send_as "plain-$$" "$WORK/sent-plain.eml" --to bob@example.test
PLAIN=$(delivered "plain-$$" bob@example.test)
smime_open 7 "$WORK/open-plain.out" "$PLAIN" --ca "$PKI/ca.pem"
log "5. a plain message: postern smime open exits 7"
log "PASS"
