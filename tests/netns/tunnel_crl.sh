#!/usr/bin/env bash
# Certificate revocation end to end with `postern pki revoke`: the server runs with
# crl = "pki/crl.pem" (started with a spare certificate already revoked, so the file exists and
# revoke has to keep that entry); the laptop's certificate gets in; `pki revoke pki laptop` adds
# it to the CRL, SIGHUP makes the running server re-read it, and the laptop is then refused with
# the reason in the server log ("certificate revoked"), while the spare entry is still listed.
# A live session ends with its certificate: the laptop's established session is terminated
# within a second of the SIGHUP. So does a password user's session when `postern user del`
# removed the user.
source "$(dirname "$0")/lib.sh"
require_root
make_topology
make_pki
"$POSTERN_BIN" pki issue "$WORK/pki" spare >>"$WORK/pki.log" 2>&1 || fail "pki issue spare"
"$POSTERN_BIN" pki revoke "$WORK/pki" spare >"$WORK/revoke-spare.out" 2>&1 || fail "pki revoke spare: $(cat "$WORK/revoke-spare.out")"
grep -q "(1 revoked)" "$WORK/revoke-spare.out" || fail "first revoke did not report one entry: $(cat "$WORK/revoke-spare.out")"
[ -f "$WORK/pki/crl.pem" ] || fail "pki revoke did not create crl.pem"
printf 'live password 9\n' | "$POSTERN_BIN" user add --cost 10 "$WORK/users" dora >>"$WORK/pki.log" 2>&1 || fail "user add"
chmod 644 "$WORK/users"  # the daemon re-reads it as nobody after SIGHUP
printf 'live password 9\n' >"$WORK/dora.pass"
chmod 600 "$WORK/dora.pass"
write_server_config "$WORK/site.toml" 'crl = "pki/crl.pem"' 'users = "users"'
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
# A live session with the laptop certificate, established before the revocation.
write_client_config "$WORK/live.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
start_client "$WORK/live.toml" live
LIVE_PID=$CLIENT_PID
wait_for 15 "the live session" in_laptop ping -c 1 -W 1 10.77.0.1
hup_at=$(date +%s.%N)
kill -HUP "$SERVER_PID"
wait_for 5 "CRL reload" grep -q "reloaded.*crl=" "$WORK/server.log"
wait_for 3 "the live session to end" grep -Eq "session_ended_by_reload .*identity=laptop.*reason=\"client certificate rejected: certificate revoked\"" "$WORK/server.log"
ended_at=$(date +%s.%N)
python3 -c "import sys; sys.exit(0 if $ended_at - $hup_at < 1.0 else 1)" ||
  fail "the revoked session ended $(python3 -c "print(round($ended_at - $hup_at, 2))") s after SIGHUP (want < 1 s)"
in_laptop ping -c 1 -W 1 10.77.0.1 >/dev/null 2>&1 && fail "the revoked laptop still reaches the site"
kill "$LIVE_PID" 2>/dev/null || true
wait "$LIVE_PID" 2>/dev/null || true
log "the live session of the revoked certificate ended within a second of SIGHUP"

try_client after 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  && fail "revoked certificate accepted after SIGHUP"
[ "$(grep -c "certificate revoked" "$WORK/server.log")" -gt "$refusals" ] \
  || fail "server did not log the revocation as the reason: $(tail -5 "$WORK/server.log")"
log "revoked certificate refused after SIGHUP, reason logged"

# A password user's live session ends when the user is removed.
write_client_config "$WORK/dora.toml" 'user = "dora"' 'password_file = "dora.pass"'
start_client "$WORK/dora.toml" dora
DORA_PID=$CLIENT_PID
wait_for 15 "dora's session" in_laptop ping -c 1 -W 1 10.77.0.1
"$POSTERN_BIN" user del "$WORK/users" dora >>"$WORK/pki.log" 2>&1 || fail "user del"
chmod 644 "$WORK/users"
kill -HUP "$SERVER_PID"
wait_for 3 "dora's session to end" grep -Eq "session_ended_by_reload .*identity=dora.*no longer in the users file" "$WORK/server.log"
kill "$DORA_PID" 2>/dev/null || true
log "a removed user's live session ended at SIGHUP"
log "PASS"
