#!/usr/bin/env bash
# Passwords from the site's LDAP directory ([auth] backend = "ldap", docs/directory-auth.md),
# against a real OpenLDAP slapd (slapd.sh: LDAPS with the test CA, data from slapadd): the
# tunnel and SMTP AUTH both accept alice (in group vpn) and refuse a wrong password and bob (right
# password, not in the group); the server logs why. With slapd stopped, SMTP AUTH answers 454
# 4.7.0 and the tunnel client is told "temporarily unavailable" and keeps retrying (no exit 2),
# and gets in by itself once slapd is back (the backend reconnects). Last, ldap:// with
# starttls = true: a second (SMTP-only) daemon authenticates alice, and slapd logs the StartTLS.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/slapd.sh"
require_root
command -v slapd >/dev/null || skip "slapd is not installed (tools/bootstrap.sh)"
make_topology
make_pki
write_slapd_config
LDAP_URI="ldaps://127.0.0.1:6360/"
STARTTLS_URI="ldap://127.0.0.1:3890/"
start_slapd "$NS_SITE" "$LDAP_URI $STARTTLS_URI"
log "slapd up on $LDAP_URI"

write_server_config "$WORK/site.toml" 'auth = "password"'
cat >>"$WORK/site.toml" <<CONF

[smtp]
listen = ["10.200.0.2:587 starttls"]
hostname = "mail.example.test"
certificate = "pki/server.pem"
private_key = "pki/server.key"
spool = "spool"
maildir = "maildir"
domains = ["example.test"]
auth_failure_delay = "100ms"

[auth]
backend = "ldap"

[auth.ldap]
uris = ["$LDAP_URI"]
ca = "pki/ca.pem"
base = "ou=people,dc=site,dc=test"
bind_dn = "cn=postern,dc=site,dc=test"
bind_password_file = "ldap.pass"
group_filter = "(&(objectClass=groupOfNames)(cn=vpn)(member=%d))"
group_base = "ou=groups,dc=site,dc=test"
timeout = "2s"
CONF
printf '%s\n' "$SLAPD_PASSWORD_ALICE" >"$WORK/alice.pass"
printf '%s\n' "$SLAPD_PASSWORD_BOB" >"$WORK/bob.pass"
printf 'not the password\n' >"$WORK/wrong.pass"
chmod 600 "$WORK"/*.pass
start_server "$WORK/site.toml"
wait_for 10 "server" in_site ip link show pst0
wait_for 10 "smtp listener" grep -q "listening.*port=587" "$WORK/server.log"

try_client alice 'user = "alice"' 'password_file = "alice.pass"' || fail "alice (in the group) was refused"
grep -q 'auth_accepted user=alice .*backend=ldap' "$WORK/server.log" || fail "no 'auth_accepted' for alice from the ldap backend"
log "tunnel: directory user alice accepted"
try_client wrongpw 'user = "alice"' 'password_file = "wrong.pass"' && fail "alice with a wrong password was accepted"
grep -q 'auth_rejected user=alice .*reason="bad password for uid=alice,ou=people,dc=site,dc=test"' "$WORK/server.log" \
  || fail "the wrong password's refusal is not logged with the directory's reason"
log "tunnel: wrong password refused"
try_client bob 'user = "bob"' 'password_file = "bob.pass"' && fail "bob (not in the group) was accepted"
grep -q 'auth_rejected user=bob .*is not matched by group_filter' "$WORK/server.log" || fail "bob's refusal does not name the group filter"
log "tunnel: bob (right password, outside the group) refused"
try_client nobody 'user = "x*)(uid=*"' 'password_file = "alice.pass"' && fail "an injected filter was accepted"
grep -qF 'no entry matches (uid=x\\2a\\29\\28uid=\\2a)' "$WORK/server.log" || fail "the login name was not escaped in the filter"
log "tunnel: a filter-injection login name is escaped and refused"

smtp_auth() { in_laptop timeout 30 python3 "$(dirname "$0")/smtp_auth.py" 10.200.0.2 587 "$WORK/pki/ca.pem" "$1" "$2"; }
reply=$(smtp_auth alice "$SLAPD_PASSWORD_ALICE")
[ "${reply%% *}" = 235 ] || fail "SMTP AUTH alice: $reply"
reply=$(smtp_auth alice "not the password")
[ "${reply%% *}" = 535 ] || fail "SMTP AUTH alice, wrong password: $reply"
reply=$(smtp_auth bob "$SLAPD_PASSWORD_BOB")
[ "${reply%% *}" = 535 ] || fail "SMTP AUTH bob (outside the group): $reply"
log "smtp: alice 235, wrong password 535, bob 535"

# The directory goes away.
stop_slapd
reply=$(smtp_auth alice "$SLAPD_PASSWORD_ALICE")
[ "${reply%% *}" = 454 ] || fail "SMTP AUTH with slapd down: $reply (want 454)"
echo "$reply" | grep -q '4.7.0' || fail "SMTP 454 without 4.7.0: $reply"
grep -q 'auth_unavailable .*backend=ldap' "$WORK/server.log" || fail "no auth_unavailable line for SMTP"
log "smtp: slapd down -> $reply"
write_client_config "$WORK/retry.toml" 'user = "alice"' 'password_file = "alice.pass"'
start_client "$WORK/retry.toml" retry
RETRY_PID=$CLIENT_PID
wait_for 10 "the client told to retry" grep -q 'attempt_failed .*reason="authentication temporarily unavailable"' "$WORK/retry.log"
kill -0 "$RETRY_PID" || fail "the client gave up instead of retrying"
grep -q "giving_up" "$WORK/retry.log" && fail "the client gave up on a temporary failure"
grep -q 'auth_unavailable user=alice .*backend=ldap' "$WORK/server.log" || fail "the server did not log auth_unavailable"
log "tunnel: slapd down -> the client retries ($(grep -c 'temporarily unavailable' "$WORK/retry.log") refusals so far)"
start_slapd "$NS_SITE" "$LDAP_URI $STARTTLS_URI"
wait_for 40 "the retrying client to get in once slapd is back" \
  bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
log "tunnel: slapd back -> the same client got in ($(tunnel_address "$NS_LAPTOP" pst0))"
reply=$(smtp_auth alice "$SLAPD_PASSWORD_ALICE")
[ "${reply%% *}" = 235 ] || fail "SMTP AUTH after slapd came back: $reply"
log "smtp: after slapd came back 235"

# StartTLS on ldap://: a second, SMTP-only daemon; slapd's log shows the StartTLS operation.
cat >"$WORK/starttls.toml" <<CONF
[smtp]
listen = ["10.200.0.2:588 starttls"]
hostname = "mail.example.test"
certificate = "pki/server.pem"
private_key = "pki/server.key"
spool = "spool2"
maildir = "maildir2"
domains = ["example.test"]

[auth]
backend = "ldap"

[auth.ldap]
uris = ["$STARTTLS_URI"]
starttls = true
ca = "pki/ca.pem"
base = "ou=people,dc=site,dc=test"
bind_dn = "cn=postern,dc=site,dc=test"
bind_password_file = "ldap.pass"

[daemon]
status_socket = "$WORK/starttls.sock"
CONF
ip netns exec "$NS_SITE" "$POSTERN_BIN" server -c "$WORK/starttls.toml" >"$WORK/starttls.log" 2>&1 &
PIDS+=($!)
wait_for 10 "the StartTLS daemon" grep -q "listening.*port=588" "$WORK/starttls.log"
starttls_ops=$(grep -c 'EXT oid=1.3.6.1.4.1.1466.20037' "$WORK/slapd.log" || true)
reply=$(in_laptop timeout 30 python3 "$(dirname "$0")/smtp_auth.py" 10.200.0.2 588 "$WORK/pki/ca.pem" alice "$SLAPD_PASSWORD_ALICE")
[ "${reply%% *}" = 235 ] || fail "SMTP AUTH through the StartTLS backend: $reply"
[ "$(grep -c 'EXT oid=1.3.6.1.4.1.1466.20037' "$WORK/slapd.log")" -gt "$starttls_ops" ] || fail "slapd saw no StartTLS operation"
log "ldap:// with StartTLS: alice 235, slapd logged the StartTLS extended operation"
log "PASS"
