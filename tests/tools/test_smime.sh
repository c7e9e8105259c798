#!/usr/bin/env bash
# `postern smime open` on messages made by another implementation: OpenSSL's `openssl cms`
# signs and encrypts (AES-256-GCM and AES-256-CBC, EC and RSA recipients), and postern must
# open them and give each verdict its exit status (docs/smime.md):
#   0 ok, 3 bad signature, 4 untrusted signer, 5 From is not the signer's, 6 cannot decrypt,
#   7 not S/MIME, 8 not signed (--require-signed); 1 an error (wrong .p12 password, no such
#   file), 2 a usage error (no CA given, --cert without --key).
# No root, no network: certificates from `postern pki`, messages from files.
set -euo pipefail
bin=${POSTERN_BIN:?}
command -v openssl >/dev/null || { echo "SKIP: openssl is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL $*" >&2; exit 1; }

"$bin" pki init pki --server-name site.test >/dev/null
printf 'alice pw\n' | "$bin" pki issue pki alice --email alice@example.test >/dev/null
"$bin" pki issue pki bob --email bob@example.test --key-type rsa --no-p12 >/dev/null
"$bin" pki issue pki laptop >/dev/null   # a tunnel certificate: no emailProtection
"$bin" pki init other --server-name other.test >/dev/null

# expect STATUS ARGS...: postern smime open ARGS exits STATUS; its output is in out.txt
expect() {
  local want=$1 status=0; shift
  "$bin" smime open "$@" >out.txt 2>&1 </dev/null || status=$?
  [ "$status" -eq "$want" ] || fail "smime open $* exited $status, expected $want: $(cat out.txt)"
}

printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\nquarterly figures\r\nline two\r\n' >entity.txt
# Signed by alice (detached, multipart/signed, SHA-256), as openssl writes S/MIME.
openssl cms -sign -in entity.txt -signer pki/alice.pem -inkey pki/alice.key -md sha256 -binary \
  -from alice@example.test -to bob@example.test -subject "signed by openssl" -out signed.eml
expect 0 signed.eml --ca pki/ca.pem --out opened.eml
grep -qx 'layers: signed' out.txt || fail "layers: $(cat out.txt)"
grep -q '^signer: CN=alice <alice@example.test> issued by CN=' out.txt || fail "signer: $(cat out.txt)"
grep -q 'quarterly figures' opened.eml || fail "--out lacks the content"
grep -q '^Subject: signed by openssl' opened.eml || fail "--out lacks the outer headers"
expect 0 signed.eml --ca pki/ca.pem --require-signed

sed 's/quarterly figures/quarterly fiGures/' signed.eml >altered.eml
cmp -s signed.eml altered.eml && fail "sed altered nothing"
expect 3 altered.eml --ca pki/ca.pem --out not-written.eml
[ ! -e not-written.eml ] || fail "--out written for a bad signature"
expect 4 signed.eml --ca other/ca.pem
grep -q 'not trusted' out.txt || fail "untrusted not said: $(cat out.txt)"

# From is not the signer's: openssl signs whatever From it is given.
openssl cms -sign -in entity.txt -signer pki/alice.pem -inkey pki/alice.key -md sha256 -binary \
  -from ceo@example.test -to bob@example.test -subject "forged" -out forged.eml
expect 5 forged.eml --ca pki/ca.pem
# A certificate without emailProtection (the laptop's tunnel certificate) is not trusted for mail.
openssl cms -sign -in entity.txt -signer pki/laptop.pem -inkey pki/laptop.key -md sha256 -binary \
  -from laptop@example.test -subject "tunnel cert" -out laptop.eml
expect 4 laptop.eml --ca pki/ca.pem

# Signed then encrypted to bob (RSA) and alice (EC), AES-256-GCM and AES-256-CBC.
openssl cms -sign -in entity.txt -signer pki/alice.pem -inkey pki/alice.key -md sha256 -binary -out inner.eml
for cipher in aes-256-gcm aes-256-cbc; do
  openssl cms -encrypt -in inner.eml -binary "-$cipher" -from alice@example.test -to bob@example.test \
    -subject "$cipher" -out "enc-$cipher.eml" pki/bob.pem pki/alice.pem
  expect 0 "enc-$cipher.eml" --ca pki/ca.pem --cert pki/bob.pem --key pki/bob.key
  grep -qx "encryption: $cipher, decrypted for CN=bob" out.txt || fail "$cipher: $(cat out.txt)"
  # alice's .p12, password on stdin
  status=0
  printf 'alice pw\n' | "$bin" smime open "enc-$cipher.eml" --ca pki/ca.pem --p12 pki/alice.p12 >out.txt 2>&1 || status=$?
  [ "$status" -eq 0 ] || fail "$cipher with alice.p12 exited $status: $(cat out.txt)"
done
grep -q 'smime-type=authEnveloped-data' enc-aes-256-gcm.eml || fail "openssl did not write authEnveloped-data"

# Encrypted to bob only: alice's key cannot open it; no key at all cannot either.
openssl cms -encrypt -in inner.eml -binary -aes-256-gcm -from alice@example.test -subject "for bob" \
  -out bob-only.eml pki/bob.pem
expect 6 bob-only.eml --ca pki/ca.pem --cert pki/alice.pem --key pki/alice.key
expect 6 bob-only.eml --ca pki/ca.pem
expect 0 bob-only.eml --ca pki/ca.pem --cert pki/bob.pem --key pki/bob.key

# Encrypted, not signed.
openssl cms -encrypt -in entity.txt -binary -aes-256-gcm -from alice@example.test -subject "unsigned" \
  -out unsigned.eml pki/bob.pem
expect 0 unsigned.eml --ca pki/ca.pem --cert pki/bob.pem --key pki/bob.key
grep -qx 'signature: none (not signed)' out.txt || fail "unsigned: $(cat out.txt)"
expect 8 unsigned.eml --ca pki/ca.pem --cert pki/bob.pem --key pki/bob.key --require-signed

printf 'From: a@example.test\r\nSubject: plain\r\n\r\nhello\r\n' >plain.eml
expect 7 plain.eml --ca pki/ca.pem

# Errors and usage.
status=0
printf 'wrong\n' | "$bin" smime open bob-only.eml --ca pki/ca.pem --p12 pki/alice.p12 >out.txt 2>&1 || status=$?
[ "$status" -eq 1 ] || fail "a wrong .p12 password exited $status"
grep -q 'wrong password' out.txt || fail "wrong password not said: $(cat out.txt)"
expect 1 missing.eml --ca pki/ca.pem
expect 2 signed.eml
expect 2 signed.eml --ca pki/ca.pem --cert pki/bob.pem
expect 2 signed.eml --ca pki/ca.pem --p12 pki/alice.p12 --cert pki/bob.pem --key pki/bob.key
echo "PASS: postern smime open on openssl-made messages: exit 0/3/4/5/6/7/8/1/2 as documented"
