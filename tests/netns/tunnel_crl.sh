#!/usr/bin/env bash
# Certificate revocation end to end with `postern pki revoke`: the server runs with
# crl = "pki/crl.pem" (started with a spare certificate already revoked, so the file exists and
# revoke has to keep that entry); the laptop's certificate gets in; `pki revoke pki laptop` adds
# it to the CRL, SIGHUP makes the running server re-read it, and the laptop is then refused with
# the reason in the server log ("certificate revoked"), while the spare entry is still listed.
source "$(dirname "$0")/lib.sh"
require_root
make_topology
make_pki
"$POSTERN_BIN" pki issue "$WORK/pki" spare >>"$WORK/pki.log" 2>&1 || fail "pki issue spare"
"$POSTERN_BIN" pki revoke "$WORK/pki" spare >"$WORK/revoke-spare.out" 2>&1 || fail "pki revoke spare: $(cat "$WORK/revoke-spare.out")"
grep -q "(1 revoked)" "$WORK/revoke-spare.out" || fail "first revoke did not report one entry: $(cat "$WORK/revoke-spare.out")"
[ -f "$WORK/pki/crl.pem" ] || fail "pki revoke did not create crl.pem"
write_server_config "$WORK/site.toml" 'crl = "pki/crl.pem"'
start_server "$WORK/site.toml"
wait_for 10 "server" in_site ip link show pst0

try_client before 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  || fail "laptop certificate refused before it was revoked"
log "laptop certificate accepted"
try_client spare 'certificate = "pki/spare.pem"' 'private_key = "pki/spare.key"' \
  && fail "the certificate revoked at start was accepted"
log "certificate revoked before start refused"

serial=$(openssl x509 -in "$WORK/pki/laptop.pem" -noout -serial | cut -d= -f2)
"$POSTERN_BIN" pki revoke "$WORK/pki" laptop >"$WORK/revoke.out" 2>&1 || fail "pki revoke laptop: $(cat "$WORK/revoke.out")"
grep -q "revoked laptop (serial $serial)" "$WORK/revoke.out" || fail "revoke output: $(cat "$WORK/revoke.out")"
openssl crl -in "$WORK/pki/crl.pem" -noout -text >"$WORK/crl.txt" || fail "crl.pem unreadable by openssl"
grep -q "Serial Number: $serial" "$WORK/crl.txt" || fail "laptop serial not in the CRL"
[ "$(grep -c 'Serial Number:' "$WORK/crl.txt")" -eq 2 ] || fail "the spare entry was lost: $(cat "$WORK/crl.txt")"
openssl crl -in "$WORK/pki/crl.pem" -CAfile "$WORK/pki/ca.pem" -noout 2>&1 | grep -q "verify OK" \
  || fail "CRL signature does not verify against ca.pem"
log "laptop revoked (serial $serial)"

refusals=$(grep -c "certificate revoked" "$WORK/server.log" || true)
[ "$refusals" -ge 1 ] || fail "the spare refusal did not log the revocation as the reason"
kill -HUP "$SERVER_PID"
wait_for 5 "CRL reload" grep -q "reloaded.*crl=" "$WORK/server.log"
try_client after 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  && fail "revoked certificate accepted after SIGHUP"
[ "$(grep -c "certificate revoked" "$WORK/server.log")" -gt "$refusals" ] \
  || fail "server did not log the revocation as the reason: $(tail -5 "$WORK/server.log")"
log "revoked certificate refused after SIGHUP, reason logged"
log "PASS"
