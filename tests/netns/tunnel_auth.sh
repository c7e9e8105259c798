#!/usr/bin/env bash
# Authentication end to end: a password user gets in; a wrong password, an unknown user and a
# client certificate from another CA are all refused (no address, the server logs why); a
# certificate put on the deny list is refused once SIGHUP makes the server re-read it. Refusals
# that no retry can fix end the client with exit status 2 and a message that says what to change:
# a wrong password ("authentication failed", said once), and a server certificate for another
# name (the names it carries and the server_name hint).
source "$(dirname "$0")/lib.sh"
require_root
make_topology
make_pki
"$POSTERN_BIN" pki init "$WORK/other" --server-name rogue >/dev/null 2>&1 || fail "second CA"
"$POSTERN_BIN" pki issue "$WORK/other" intruder >/dev/null 2>&1 || fail "intruder cert"
cp "$WORK/other/intruder.pem" "$WORK/other/intruder.key" "$WORK/pki/"
printf 'correct horse battery staple\n' | "$POSTERN_BIN" user add "$WORK/users.db" alice >/dev/null || fail "user add"
printf 'correct horse battery staple\n' >"$WORK/alice.pass"
printf 'wrong\n' >"$WORK/wrong.pass"
chmod 600 "$WORK/alice.pass" "$WORK/wrong.pass"
touch "$WORK/deny.list"; chmod 644 "$WORK/deny.list"
write_server_config "$WORK/site.toml" 'users = "users.db"' 'deny_list = "deny.list"'
start_server "$WORK/site.toml"
wait_for 10 "server" in_site ip link show pst0

try_client good 'user = "alice"' 'password_file = "alice.pass"' || fail "alice with the right password was refused"
log "password user accepted"
try_client wrongpw 'user = "alice"' 'password_file = "wrong.pass"' && fail "wrong password accepted"
grep -q "auth" "$WORK/server.log" || fail "server did not log the refusal"
log "wrong password refused"
# exit_of NAME EXTRA...: runs a client with that config until it exits (10 s at most); sets STATUS
exit_of() {
  local name=$1; shift
  write_client_config "$WORK/$name.toml" "$@"
  start_client "$WORK/$name.toml" "$name"
  local pid=$CLIENT_PID
  wait_for 10 "client $name to give up" bash -c "! kill -0 $pid"
  STATUS=0
  wait "$pid" || STATUS=$?
}
exit_of wrongpw2 'user = "alice"' 'password_file = "wrong.pass"'
[ "$STATUS" -eq 2 ] || fail "wrong password: exit status $STATUS, not 2"
grep -q 'giving_up reason="the server refused our credentials: authentication failed"' "$WORK/wrongpw2.log" \
  || fail "wrong password: no 'giving_up' line"
grep -q 'authentication failed: authentication failed' "$WORK/wrongpw2.log" && fail "the refusal is said twice"
log "wrong password: exit 2, $(grep -o 'reason="[^"]*"' "$WORK/wrongpw2.log" | tail -1)"
exit_of wrongname 'server_name = "vpn.other.example"' 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
[ "$STATUS" -eq 2 ] || fail "server certificate for another name: exit status $STATUS, not 2"
grep -q 'server certificate name mismatch: wanted vpn.other.example, the certificate names 10.200.0.2; set \[tunnel\] server_name to one of those names' "$WORK/wrongname.log" \
  || fail "name mismatch: the client did not name the certificate's names and server_name"
log "server certificate for another name: exit 2, names and server_name hint given"
try_client nouser 'user = "mallory"' 'password_file = "alice.pass"' && fail "unknown user accepted"
log "unknown user refused"
try_client othercert 'certificate = "pki/intruder.pem"' 'private_key = "pki/intruder.key"' && fail "certificate from another CA accepted"
log "certificate from another CA refused"
try_client goodcert 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' || fail "laptop certificate refused"
log "certificate from the client CA accepted"

# Deny the laptop's certificate by fingerprint; SIGHUP makes the running server re-read the list.
openssl x509 -in "$WORK/pki/laptop.pem" -noout -fingerprint -sha256 | cut -d= -f2 >"$WORK/deny.list"
kill -HUP "$SERVER_PID"
wait_for 5 "deny list reload" grep -q "reloaded deny_list=1" "$WORK/server.log"
try_client deniedcert 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' && fail "denied certificate accepted after SIGHUP"
grep -q "deny list" "$WORK/server.log" || fail "server did not log the deny-list refusal"
log "certificate on the deny list refused after SIGHUP"
log "PASS"
