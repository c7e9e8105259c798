#!/usr/bin/env bash
# The certificate lifecycle end to end (docs/operations.md "Certificate and CRL expiry"): the
# server starts with a CRL whose nextUpdate is already past (crafted with `pki revoke --days=-1`,
# file root:<run-as group> 0640): it logs the error with the fix, `postern status` says
# "expired", and a valid laptop certificate is refused with "CRL has expired" and the fix in the
# refusal line. `postern pki crl` re-signs it (keeping owner, group, mode and the entry), SIGHUP
# (read as the run-as user), and the laptop gets in. A client certificate 5 days from its end is
# (signed by `openssl ca` with an old notBefore) is warned about when its session comes up, by
# the client too, and shows as "warn" in the session's status; after
# `pki renew --new-key` the renewed certificate logs in without a warning.
source "$(dirname "$0")/lib.sh"
require_root
make_topology
make_pki
run_group=$(id -g nobody)
"$POSTERN_BIN" pki issue "$WORK/pki" spare >>"$WORK/pki.log" 2>&1 || fail "pki issue spare"
# shorty: issued long ago (notBefore 2026-01-01), 5 days left, so inside the 30-day window (pki
# issue cannot backdate: its key is kept, the certificate is re-made by `openssl ca`).
"$POSTERN_BIN" pki issue "$WORK/pki" shorty >>"$WORK/pki.log" 2>&1 || fail "pki issue shorty"
mkdir "$WORK/ossl"
touch "$WORK/ossl/index.txt"
echo 01 >"$WORK/ossl/serial"
cat >"$WORK/ossl/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $WORK/ossl/index.txt
new_certs_dir = $WORK/ossl
serial = $WORK/ossl/serial
default_md = sha256
policy = p
x509_extensions = ext
[p]
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
openssl req -new -key "$WORK/pki/shorty.key" -subj /CN=shorty -out "$WORK/ossl/shorty.csr" 2>>"$WORK/pki.log" || fail "csr"
openssl ca -batch -config "$WORK/ossl/ca.cnf" -cert "$WORK/pki/ca.pem" -keyfile "$WORK/pki/ca.key" \
  -in "$WORK/ossl/shorty.csr" -out "$WORK/pki/shorty.pem" -notext -startdate 20260101000000Z \
  -enddate "$(date -u -d '+5 days' +%Y%m%d%H%M%SZ)" >>"$WORK/pki.log" 2>&1 || fail "openssl ca shorty"
"$POSTERN_BIN" pki revoke "$WORK/pki" spare --days=-1 >>"$WORK/pki.log" 2>&1 || fail "pki revoke --days=-1"
chown "root:$run_group" "$WORK/pki/crl.pem"
chmod 640 "$WORK/pki/crl.pem"
write_server_config "$WORK/site.toml" 'crl = "pki/crl.pem"'
start_server "$WORK/site.toml"
wait_for 10 "server" in_site ip link show pst0
wait_for 5 "the expired-CRL error" grep -q 'error pki crl_expired .*expires_in_days=-1' "$WORK/server.log"
grep 'crl_expired' "$WORK/server.log" | grep -q "hint=.*postern pki crl $WORK/pki, then SIGHUP the server" \
  || fail "the CRL error does not say the fix: $(grep 'crl_expired' "$WORK/server.log")"
grep -q 'info pki valid file="tunnel certificate" .*expires_in_days=82[45]' "$WORK/server.log" \
  || fail "the tunnel certificate's expiry is not logged at start"
log "expired CRL logged at start with the fix"

status_json() { "$POSTERN_BIN" status --socket "$WORK/server.sock" --json; }
status_json >"$WORK/status1.json" || fail "postern status"
python3 - "$WORK/status1.json" <<'PY' || fail "status certificates: $(cat "$WORK/status1.json")"
import json, sys
r = json.load(open(sys.argv[1]))
c = {x["what"]: x for x in r["certificates"]}
assert [x["what"] for x in r["certificates"]] == ["tunnel certificate", "client CA", "CRL"], r["certificates"]
assert c["CRL"]["state"] == "expired" and c["CRL"]["days_left"] == -1, c["CRL"]
assert c["tunnel certificate"]["state"] == "ok" and c["tunnel certificate"]["days_left"] in (824, 825)
assert c["client CA"]["state"] == "ok" and c["client CA"]["not_after"].endswith("Z")
PY
"$POSTERN_BIN" status --socket "$WORK/server.sock" | grep -Eq '^  CRL +EXPIRED .* \(1 days ago\)' \
  || fail "status text: $("$POSTERN_BIN" status --socket "$WORK/server.sock")"
log "postern status shows the CRL expired"

try_client before 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  && fail "a certificate was accepted under an expired CRL"
grep -q 'refused .*reason="client certificate rejected: CRL has expired (the CRL.s nextUpdate has passed, so every client certificate is refused: run postern pki crl DIR' "$WORK/server.log" \
  || fail "the refusal does not say the CRL expired and the fix: $(grep refused "$WORK/server.log")"
log "laptop refused under the expired CRL, reason and fix logged"

"$POSTERN_BIN" pki crl "$WORK/pki" >"$WORK/crl.out" 2>&1 || fail "pki crl: $(cat "$WORK/crl.out")"
grep -q "re-signed $WORK/pki/crl.pem (1 revoked), nextUpdate " "$WORK/crl.out" || fail "pki crl output: $(cat "$WORK/crl.out")"
[ "$(stat -c '%a %u:%g' "$WORK/pki/crl.pem")" = "640 0:$run_group" ] \
  || fail "pki crl changed owner or mode: $(stat -c '%a %u:%g' "$WORK/pki/crl.pem")"
openssl crl -in "$WORK/pki/crl.pem" -CAfile "$WORK/pki/ca.pem" -noout 2>&1 | grep -q "verify OK" || fail "re-signed CRL does not verify"
kill -HUP "$SERVER_PID"
wait_for 5 "CRL reload" grep -q "reloaded.*crl=" "$WORK/server.log"
grep -q "reload_failed" "$WORK/server.log" && fail "reload_failed: $(grep 'reload_failed' "$WORK/server.log")"
status_json | python3 -c 'import json,sys; c={x["what"]: x for x in json.load(sys.stdin)["certificates"]}; sys.exit(0 if c["CRL"]["state"] == "ok" and c["CRL"]["days_left"] in (29, 30) else 1)' \
  || fail "status after the re-sign: $(status_json)"
try_client after 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  || fail "laptop refused after pki crl + SIGHUP: $(grep refused "$WORK/server.log" | tail -1)"
try_client spare 'certificate = "pki/spare.pem"' 'private_key = "pki/spare.key"' \
  && fail "the revoked spare was accepted after the re-sign"
log "pki crl kept owner/mode/entry; after SIGHUP the laptop is accepted, the spare still refused"

write_client_config "$WORK/shorty.toml" 'certificate = "pki/shorty.pem"' 'private_key = "pki/shorty.key"'
start_client "$WORK/shorty.toml" shorty
SHORTY_PID=$CLIENT_PID
wait_for 15 "shorty's session" in_laptop ping -c 1 -W 1 10.77.0.1
grep -q 'warn tunnel .*certificate_expires_soon identity=shorty .*expires_in_days=[45] hint="postern pki renew DIR shorty' "$WORK/server.log" \
  || fail "no warning for the short-lived client certificate: $(grep shorty "$WORK/server.log")"
status_json | python3 -c 'import json,sys; s=json.load(sys.stdin)["sessions"]; sys.exit(0 if len(s) == 1 and s[0]["identity"] == "shorty" and s[0]["certificate_state"] == "warn" and s[0]["certificate_days_left"] in (4, 5) else 1)' \
  || fail "session certificate in status: $(status_json)"
grep -q 'warn pki' "$WORK/shorty.log" || fail "the client did not warn about its own certificate: $(head -5 "$WORK/shorty.log")"
kill "$SHORTY_PID" 2>/dev/null || true
wait "$SHORTY_PID" 2>/dev/null || true
log "a client certificate 5 days from its end: warned at session up, 'warn' in status, and by the client"

"$POSTERN_BIN" pki renew "$WORK/pki" shorty --new-key --days 400 >"$WORK/renew.out" 2>&1 || fail "pki renew: $(cat "$WORK/renew.out")"
grep -q "valid 400 days" "$WORK/renew.out" || fail "renew output: $(cat "$WORK/renew.out")"
warnings=$(grep -c 'certificate_expires_soon identity=shorty' "$WORK/server.log")
try_client renewed 'certificate = "pki/shorty.pem"' 'private_key = "pki/shorty.key"' \
  || fail "the renewed certificate was refused: $(grep refused "$WORK/server.log" | tail -1)"
[ "$(grep -c 'certificate_expires_soon identity=shorty' "$WORK/server.log")" -eq "$warnings" ] \
  || fail "the renewed certificate was still warned about"
log "pki renew --new-key: the renewed certificate logs in, no warning"
log "PASS"
