#!/usr/bin/env bash
# Passwords and accounting through RADIUS ([auth] backend = "radius", docs/directory-auth.md),
# against a real FreeRADIUS (freeradius.sh) in the site namespace. The first listed server is
# dead (nothing on 127.0.0.1:1814): logins fail over to the live one. alice gets in with the
# Framed-IP-Address FreeRADIUS assigns (10.77.0.77) as her tunnel address; a wrong password and
# carol (Access-Reject with a Reply-Message, logged) are refused, for the tunnel and SMTP AUTH.
# FreeRADIUS's detail file shows Start, Interim-Update and Stop for alice's session with one
# Acct-Session-Id, her Framed-IP-Address and outer address (Calling-Station-Id), and Stop octets
# at least the bytes of a 2 MB transfer the test made, and the client's own accounting id
# (logged by both daemons) as Acct-Multi-Session-Id. A Framed-IP-Address held by another
# identity's session (erin gets alice's) or outside the pool (dave) is refused after
# authentication, logged, and the client told why. With FreeRADIUS stopped: SMTP 454 4.7.0,
# the tunnel client retries.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/freeradius.sh"
require_root
command -v freeradius >/dev/null || skip "freeradius is not installed (tools/bootstrap.sh)"
make_topology
make_pki
write_radius_config
start_radius "$NS_SITE"
log "freeradius up"

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
backend = "radius"

[auth.radius]
servers = ["127.0.0.1:1814", "127.0.0.1:1812"]
accounting_servers = ["127.0.0.1:1813"]
secret_file = "radius.secret"
timeout = "500ms"
tries = 2
nas_identifier = "vpn-test"
accounting = true
interim_interval = "10s"
CONF
printf '%s\n' "$RADIUS_PASSWORD_ALICE" >"$WORK/alice.pass"
printf '%s\n' "$RADIUS_PASSWORD_CAROL" >"$WORK/carol.pass"
printf 'not the password\n' >"$WORK/wrong.pass"
chmod 600 "$WORK"/*.pass
start_server "$WORK/site.toml"
wait_for 10 "server" in_site ip link show pst0

write_client_config "$WORK/alice.toml" 'user = "alice"' 'password_file = "alice.pass"'
start_client "$WORK/alice.toml" alice
ALICE_PID=$CLIENT_PID
wait_for 15 "alice's tunnel address" bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
address=$(tunnel_address "$NS_LAPTOP" pst0)
[ "$address" = "$RADIUS_FRAMED_IP" ] || fail "alice's tunnel address is $address, not FreeRADIUS's Framed-IP-Address $RADIUS_FRAMED_IP"
grep -q "auth_accepted user=alice .*backend=radius framed_ip=$RADIUS_FRAMED_IP" "$WORK/server.log" || fail "no 'auth_accepted' with the framed address"
grep -q 'Login OK: \[alice\]' "$WORK/freeradius.log" || fail "FreeRADIUS did not log alice's login"
log "tunnel: alice in via the second server (the first is dead), address $address from Framed-IP-Address"
wait_for 10 "a ping through the tunnel" in_laptop ping -c 1 -W 1 10.77.0.1
sid_client=$(sed -n 's/.*session_up .*accounting_session=\([0-9a-f]*\).*/\1/p' "$WORK/alice.log" | head -1)
[ "${#sid_client}" = 16 ] || fail "alice's client logged no accounting_session: $(grep 'session_up' "$WORK/alice.log")"
grep -q "session_up identity=alice .*accounting_session=$sid_client" "$WORK/server.log" \
  || fail "the server did not take alice's accounting session $sid_client"

# erin's Access-Accept names alice's address while alice holds it: refused after authentication,
# logged with the address and why; alice keeps hers. (Her own interface: alice has pst0.)
printf '%s\n' "$RADIUS_PASSWORD_ERIN" >"$WORK/erin.pass"; chmod 600 "$WORK/erin.pass"
write_client_config "$WORK/erin.toml" 'user = "erin"' 'password_file = "erin.pass"'
sed -i 's/^interface = "pst0"/interface = "pst1"/' "$WORK/erin.toml"
start_client "$WORK/erin.toml" erin
ERIN_PID=$CLIENT_PID
wait_for 15 "erin refused" grep -q "framed_address_refused identity=erin address=$RADIUS_FRAMED_IP why=\"in use by another session\"" "$WORK/server.log"
wait_for 10 "erin's client told why" grep -q "attempt_failed .*reason=\"terminated by peer: assigned address $RADIUS_FRAMED_IP in use by another session\"" "$WORK/erin.log"
kill "$ERIN_PID"; wait "$ERIN_PID" 2>/dev/null || true
ip -n "$NS_LAPTOP" -4 addr show dev pst1 2>/dev/null | grep -q inet && fail "erin got an address"
[ "$(tunnel_address "$NS_LAPTOP" pst0)" = "$RADIUS_FRAMED_IP" ] || fail "alice lost her address to erin"
in_laptop ping -c 1 -W 1 10.77.0.1 >/dev/null || fail "alice's tunnel broke when erin was refused"
log "framed address in use: erin refused (logged), alice keeps $RADIUS_FRAMED_IP"
transfer_sha 2
wait_for 15 "an Interim-Update in the detail file" grep -q 'Acct-Status-Type = Interim-Update' "$WORK/radius/acct/detail"
kill "$ALICE_PID"; wait "$ALICE_PID" 2>/dev/null || true
wait_for 10 "a Stop in the detail file" grep -q 'Acct-Status-Type = Stop' "$WORK/radius/acct/detail"
detail="$WORK/radius/acct/detail"
# One record per blank-line separated block; pick the Start and the Stop.
record() { awk -v want="$1" 'BEGIN{RS=""} $0 ~ "Acct-Status-Type = " want {print; exit}' "$detail"; }
start=$(record Start); stop=$(record Stop)
sid_start=$(echo "$start" | sed -n 's/.*Acct-Session-Id = "\(.*\)"/\1/p')
sid_stop=$(echo "$stop" | sed -n 's/.*Acct-Session-Id = "\(.*\)"/\1/p')
[ -n "$sid_start" ] && [ "$sid_start" = "$sid_stop" ] || fail "Start and Stop Acct-Session-Id differ: '$sid_start' '$sid_stop'"
[ "$sid_start" != "$sid_client" ] || fail "the server's Acct-Session-Id is the client's id"
for r in "$start" "$stop"; do
  echo "$r" | grep -q "Framed-IP-Address = $RADIUS_FRAMED_IP" || fail "a record without Framed-IP-Address: $r"
  echo "$r" | grep -q 'Calling-Station-Id = "10.200.0.1"' || fail "a record without the outer address: $r"
  echo "$r" | grep -q 'User-Name = "alice"' || fail "a record without User-Name: $r"
  echo "$r" | grep -q 'NAS-Identifier = "vpn-test"' || fail "a record without NAS-Identifier: $r"
  echo "$r" | grep -q "Acct-Multi-Session-Id = \"$sid_client\"" || fail "a record without the client's Acct-Multi-Session-Id $sid_client: $r"
done
in_octets=$(echo "$stop" | sed -n 's/.*Acct-Input-Octets = \([0-9]*\)/\1/p')
in_giga=$(echo "$stop" | sed -n 's/.*Acct-Input-Gigawords = \([0-9]*\)/\1/p')
out_octets=$(echo "$stop" | sed -n 's/.*Acct-Output-Octets = \([0-9]*\)/\1/p')
session_time=$(echo "$stop" | sed -n 's/.*Acct-Session-Time = \([0-9]*\)/\1/p')
in_packets=$(echo "$stop" | sed -n 's/.*Acct-Input-Packets = \([0-9]*\)/\1/p')
[ "${in_octets:-0}" -ge 2097152 ] || fail "Stop Acct-Input-Octets ${in_octets:-none} < the 2 MB sent through the tunnel"
[ "${in_giga:-x}" = 0 ] || fail "Stop Acct-Input-Gigawords ${in_giga:-none}"
[ "${out_octets:-0}" -gt 0 ] && [ "${in_packets:-0}" -gt 1000 ] && [ "${session_time:-0}" -ge 10 ] \
  || fail "Stop counters: out=$out_octets in_packets=$in_packets time=$session_time"
# The same counts as the server's own for the session (its "session_down" line).
down=$(grep 'session_down identity=alice' "$WORK/server.log" | head -1)
[ "$(echo "$down" | sed -n 's/.* rx_bytes=\([0-9]*\).*/\1/p')" = "$in_octets" ] || fail "Stop input octets $in_octets differ from the session's: $down"
[ "$(echo "$down" | sed -n 's/.* tx_bytes=\([0-9]*\).*/\1/p')" = "$out_octets" ] || fail "Stop output octets $out_octets differ from the session's: $down"
[ "$(echo "$down" | sed -n 's/.* rx_packets=\([0-9]*\).*/\1/p')" = "$in_packets" ] || fail "Stop input packets differ: $down"
echo "$stop" | grep -q 'Acct-Terminate-Cause = User-Request' || fail "Stop without Acct-Terminate-Cause User-Request"
log "accounting: Start/Interim/Stop session $sid_start, Stop in=$in_octets out=$out_octets packets=$in_packets time=${session_time}s"

try_client wrongpw 'user = "alice"' 'password_file = "wrong.pass"' && fail "a wrong password was accepted"
try_client carol 'user = "carol"' 'password_file = "carol.pass"' && fail "carol (rejected by RADIUS) was accepted"
grep -q 'auth_rejected user=carol .*reason=".*Access-Reject: carol may not use the VPN"' "$WORK/server.log" \
  || fail "carol's Reply-Message is not in the server log"
log "tunnel: wrong password and carol refused (Reply-Message logged)"
# dave's Framed-IP-Address is outside [tunnel] pool: refused after authentication, logged.
printf '%s\n' "$RADIUS_PASSWORD_DAVE" >"$WORK/dave.pass"; chmod 600 "$WORK/dave.pass"
try_client dave 'user = "dave"' 'password_file = "dave.pass"' && fail "dave got in with an address outside the pool"
grep -q "framed_address_refused identity=dave address=$RADIUS_OUTSIDE_IP why=\"outside the pool\" pool=10.77.0.0/24" "$WORK/server.log" \
  || fail "no 'framed_address_refused' for dave"
grep -q "attempt_failed .*reason=\"terminated by peer: assigned address $RADIUS_OUTSIDE_IP outside the pool\"" "$WORK/dave.log" \
  || fail "dave's client was not told why: $(grep attempt "$WORK/dave.log" | head -2)"
log "framed address outside the pool: dave refused (logged)"

smtp_auth() { in_laptop timeout 30 python3 "$(dirname "$0")/smtp_auth.py" 10.200.0.2 587 "$WORK/pki/ca.pem" "$1" "$2"; }
reply=$(smtp_auth alice "$RADIUS_PASSWORD_ALICE"); [ "${reply%% *}" = 235 ] || fail "SMTP AUTH alice: $reply"
reply=$(smtp_auth alice "not the password"); [ "${reply%% *}" = 535 ] || fail "SMTP AUTH wrong password: $reply"
reply=$(smtp_auth carol "$RADIUS_PASSWORD_CAROL"); [ "${reply%% *}" = 535 ] || fail "SMTP AUTH carol: $reply"
log "smtp: alice 235, wrong password 535, carol 535"

stop_radius
reply=$(smtp_auth alice "$RADIUS_PASSWORD_ALICE")
[ "${reply%% *}" = 454 ] && echo "$reply" | grep -q 4.7.0 || fail "SMTP AUTH with FreeRADIUS down: $reply (want 454 4.7.0)"
grep -q 'auth_unavailable .*backend=radius reason="no RADIUS answer' "$WORK/server.log" || fail "no auth_unavailable for SMTP"
log "smtp: FreeRADIUS down -> $reply"
write_client_config "$WORK/retry.toml" 'user = "alice"' 'password_file = "alice.pass"'
start_client "$WORK/retry.toml" retry
wait_for 15 "the client told to retry" grep -q 'attempt_failed .*reason="authentication temporarily unavailable"' "$WORK/retry.log"
kill -0 "$CLIENT_PID" || fail "the client gave up instead of retrying"
log "tunnel: FreeRADIUS down -> the client retries"
log "PASS"
