#!/usr/bin/env bash
# Issue 14 items 2-3: with RADIUS-assigned addresses the laptop keeps its address across site
# servers, and its accounting links the sessions (docs/site-servers.md "One address across
# servers", docs/directory-auth.md). Two servers in two namespaces (site-a 10.200.0.1, site-b
# 10.200.0.2), a real FreeRADIUS (freeradius.sh) in a third (10.200.0.3) and the laptop
# (10.200.0.10), joined by a bridge in the laptop namespace. Both servers carry the same pool
# (10.77.0.0/24, tunnel address 10.77.0.1 on each), ask the same FreeRADIUS (PAP, accounting)
# and have their own NAS-Identifier (vpn-a, vpn-b); FreeRADIUS gives alice Framed-IP-Address
# 10.77.0.77. The laptop lists servers = ["a.site.test:8443", "b.site.test:8443"] (ordered).
#   1. alice comes up on A as 10.77.0.77; a ping to 10.77.0.1 answers; the detail file has a
#      Start from vpn-a with Acct-Multi-Session-Id = the id the client logged;
#   2. kill -9 of server A mid-session: the laptop is on B within 10 s, again as 10.77.0.77 (the
#      only address pst0 ever had), and a ping answers; the route only A pushed (10.99.0.0/24)
#      is gone from pst0 (removed by the client: with the address kept the kernel flushes none);
#   3. the detail file has a Start from vpn-b with the same Acct-Multi-Session-Id and another
#      Acct-Session-Id;
#   4. mail submitted right after (python smtplib, STARTTLS, to 10.77.0.1:587) lands in B's Maildir;
#   5. the client stopped: a Stop from vpn-b with that Acct-Multi-Session-Id, Acct-Terminate-Cause
#      User-Request and B's own byte counts of the session.
#   6. each server is a NAS: A's first record is an Accounting-On; A restarted after its kill -9
#      sends a second one with a new Acct-Session-Id (what lets FreeRADIUS close the session A
#      never stopped); B stopped by SIGTERM ends with an Accounting-Off carrying its On's
#      Acct-Session-Id, so vpn-b's records read exactly Accounting-On, Start, Stop, Accounting-Off.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/freeradius.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
command -v freeradius >/dev/null || skip "freeradius is not installed (tools/bootstrap.sh)"

NS_A="$ID-a"
NS_B="$ID-b"
NS_R="$ID-r"
add_ns "$NS_A"
add_ns "$NS_B"
add_ns "$NS_R"
add_ns "$NS_LAPTOP"
ip -n "$NS_LAPTOP" link add br0 type bridge
ip -n "$NS_LAPTOP" link set br0 up
ip -n "$NS_LAPTOP" addr add 10.200.0.10/24 dev br0
i=0
for ns in "$NS_A" "$NS_B" "$NS_R"; do
  i=$((i + 1))
  ip link add "${ID}s$i" type veth peer name "${ID}l$i"
  ip link set "${ID}s$i" netns "$ns"
  ip link set "${ID}l$i" netns "$NS_LAPTOP"
  ip -n "$NS_LAPTOP" link set "${ID}l$i" master br0 up
  ip -n "$ns" addr add "10.200.0.$i/24" dev "${ID}s$i"
  ip -n "$ns" link set "${ID}s$i" up
  ip -n "$ns" link set lo up
done
mkdir -p "/etc/netns/$NS_LAPTOP"
printf '10.200.0.1 a.site.test\n10.200.0.2 b.site.test\n' >"/etc/netns/$NS_LAPTOP/hosts"

# One CA; A's certificate names a.site.test, B's b.site.test; both name 10.77.0.1 (SMTP).
"$POSTERN_BIN" pki init "$WORK/pki" --server-name a.site.test --server-name 10.77.0.1 >"$WORK/pki.log" 2>&1 || fail "pki init"
"$POSTERN_BIN" pki issue "$WORK/pki" b-server --server --server-name b.site.test --server-name 10.77.0.1 \
  >>"$WORK/pki.log" 2>&1 || fail "pki issue b-server"
chmod 755 "$WORK/pki"

write_radius_config 10.200.0.3 10.200.0.0/24
start_radius "$NS_R"
log "freeradius up on 10.200.0.3"

# server_config NAME ADDRESS CERT ROUTES
server_config() {
  local name=$1 addr=$2 cert=$3 routes=$4
  mkdir -p "$WORK/$name"
  chmod 755 "$WORK/$name"
  cat >"$WORK/$name/site.toml" <<CONF
[tunnel]
listen = "$addr:8443"
certificate = "$WORK/pki/$cert.pem"
private_key = "$WORK/pki/$cert.key"
auth = "password"
pool = "10.77.0.0/24"
routes = $routes
interface = "pst0"

[smtp]
listen = ["10.77.0.1:587 starttls"]
hostname = "mail-$name.example.test"
certificate = "$WORK/pki/$cert.pem"
private_key = "$WORK/pki/$cert.key"
spool = "spool"
maildir = "maildir"
domains = ["example.test"]

[auth]
backend = "radius"

[auth.radius]
servers = ["10.200.0.3:1812"]
accounting_servers = ["10.200.0.3:1813"]
secret_file = "$WORK/radius.secret"
timeout = "1s"
tries = 2
nas_identifier = "vpn-$name"
accounting = true
interim_interval = "0s"

[daemon]
status_socket = "$WORK/$name.sock"
CONF
}
# A also pushes a route B does not. The laptop keeps its address across the move, so the kernel
# flushes nothing: the client itself must remove what only A pushed.
server_config a 10.200.0.1 server '["10.77.0.0/24", "10.99.0.0/24"]'
server_config b 10.200.0.2 b-server '["10.77.0.0/24"]'

printf '%s\n' "$RADIUS_PASSWORD_ALICE" >"$WORK/alice.pass"
chmod 600 "$WORK/alice.pass"
cat >"$WORK/laptop.toml" <<CONF
[tunnel]
servers = ["a.site.test:8443", "b.site.test:8443"]
server_order = "ordered"
connect_timeout = "2s"
ca = "pki/ca.pem"
user = "alice"
password_file = "alice.pass"
interface = "pst0"
apply_dns = false

[daemon]
status_socket = "$WORK/laptop.sock"
CONF

ip netns exec "$NS_A" "$POSTERN_BIN" server -c "$WORK/a/site.toml" >"$WORK/server-a.log" 2>&1 &
PIDS+=($!)
PID_A=$!
ip netns exec "$NS_B" "$POSTERN_BIN" server -c "$WORK/b/site.toml" >"$WORK/server-b.log" 2>&1 &
PIDS+=($!)
wait_for 10 "server A" ip netns exec "$NS_A" ip link show pst0
wait_for 10 "server B" ip netns exec "$NS_B" ip link show pst0
# Every address pst0 gets, from before the client starts (the address must never change).
ip -n "$NS_LAPTOP" monitor address >"$WORK/addresses.log" 2>&1 &
PIDS+=($!)
start_client "$WORK/laptop.toml" laptop
LAPTOP_PID=$CLIENT_PID
detail="$WORK/radius/acct/detail"
# record STATUS NAS: the first detail record of that status from that server
record() {
  awk -v want="Acct-Status-Type = $1" -v nas="NAS-Identifier = \"$2\"" \
    'BEGIN{RS=""} index($0, want) && index($0, nas) {print; exit}' "$detail" 2>/dev/null
}
# statuses NAS: the Acct-Status-Type of that server's records, in the order FreeRADIUS got them
statuses() {
  awk -v nas="NAS-Identifier = \"$1\"" 'BEGIN{RS=""} index($0, nas) && match($0, /Acct-Status-Type = [A-Za-z-]+/) {
    printf "%s ", substr($0, RSTART + 19, RLENGTH - 19) }' "$detail" 2>/dev/null
}
field() { sed -n "s/.*$1 = \"\\{0,1\\}\\([^\"]*\\)\"\\{0,1\\}$/\\1/p" | head -1; }

# --- 1. on A ---------------------------------------------------------------------------------
wait_for 15 "alice's address" bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
ADDRESS_A=$(tunnel_address "$NS_LAPTOP" pst0)
[ "$ADDRESS_A" = "$RADIUS_FRAMED_IP" ] || fail "alice is $ADDRESS_A on A, not FreeRADIUS's $RADIUS_FRAMED_IP"
wait_for 10 "a ping to A through the tunnel" in_laptop ping -c 1 -W 1 10.77.0.1
grep -q 'session_up .*server=a.site.test:8443' "$WORK/laptop.log" || fail "no 'session_up' naming a.site.test:8443"
MULTI=$(sed -n 's/.*session_up .*accounting_session=\([0-9a-f]*\).*/\1/p' "$WORK/laptop.log" | head -1)
[ "${#MULTI}" = 16 ] || fail "the client logged no accounting_session"
wait_for 10 "a Start from vpn-a" bash -c "[ -n \"\$(awk 'BEGIN{RS=\"\"} /Start/ && /vpn-a/' '$detail' 2>/dev/null)\" ]"
START_A=$(record Start vpn-a)
[ "$(echo "$START_A" | field Acct-Multi-Session-Id)" = "$MULTI" ] || fail "A's Start lacks Acct-Multi-Session-Id $MULTI: $START_A"
[ "$(echo "$START_A" | field Framed-IP-Address)" = "$RADIUS_FRAMED_IP" ] || fail "A's Start lacks the framed address: $START_A"
SID_A=$(echo "$START_A" | field Acct-Session-Id)
ip -n "$NS_LAPTOP" route show dev pst0 | grep -q '^10.99.0.0/24' || fail "A's route 10.99.0.0/24 is not on pst0"
log "alice is $ADDRESS_A on A; Start vpn-a Acct-Session-Id=$SID_A Acct-Multi-Session-Id=$MULTI"

# --- 2. kill -9 A mid-session ------------------------------------------------------------------
in_laptop ping -i 0.2 -W 1 10.77.0.1 >"$WORK/ping-a.out" 2>&1 &
PIDS+=($!)
sleep 1
grep -q 'bytes from 10.77.0.1' "$WORK/ping-a.out" || fail "no ping replies from A before the kill"
T_KILL=$(date +%s%N)
kill -9 "$PID_A"
log "killed server A (pid $PID_A)"
deadline=$((SECONDS + 15))
until [ "$(grep -c 'session_up .*server=b.site.test:8443' "$WORK/laptop.log")" -ge 1 ] &&
      in_laptop ping -c 1 -W 1 10.77.0.1 >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the laptop did not reach B within 15 s of the kill"
  sleep 0.1
done
T_ON_B=$(date +%s%N)
FAILOVER_MS=$(((T_ON_B - T_KILL) / 1000000))
ADDRESS_B=$(tunnel_address "$NS_LAPTOP" pst0)
[ "$ADDRESS_B" = "$RADIUS_FRAMED_IP" ] || fail "alice is $ADDRESS_B on B, not $RADIUS_FRAMED_IP"
grep -q "session_up identity=alice address=$RADIUS_FRAMED_IP" "$WORK/server-b.log" || fail "B did not give alice $RADIUS_FRAMED_IP"
[ "$FAILOVER_MS" -lt 10000 ] || fail "failover took ${FAILOVER_MS} ms (limit 10000)"
grep -q "inet $RADIUS_FRAMED_IP/" "$WORK/addresses.log" || fail "ip monitor saw no address on pst0: $(cat "$WORK/addresses.log")"
other=$(grep -o 'inet [0-9.]*' "$WORK/addresses.log" | sort -u | grep -v "inet $RADIUS_FRAMED_IP\$" || true)
[ -z "$other" ] || fail "pst0 had another address on the way: $other"
ip -n "$NS_LAPTOP" route show dev pst0 | grep -q '^10.99.0.0/24' && fail "the route only A pushed is still on pst0 on B: $(ip -n "$NS_LAPTOP" route show dev pst0)"
grep -q 'stale_route_removed interface=pst0 route=10.99.0.0/24' "$WORK/laptop.log" || fail "no 'stale_route_removed' in the client log"
log "laptop is $ADDRESS_B on server B, ${FAILOVER_MS} ms after the kill (same address, ping answered, A's own route removed)"

# --- 3. one accounting session across the two servers ---------------------------------------------
wait_for 10 "a Start from vpn-b" bash -c "[ -n \"\$(awk 'BEGIN{RS=\"\"} /Start/ && /vpn-b/' '$detail' 2>/dev/null)\" ]"
START_B=$(record Start vpn-b)
[ "$(echo "$START_B" | field Acct-Multi-Session-Id)" = "$MULTI" ] || fail "B's Start lacks Acct-Multi-Session-Id $MULTI: $START_B"
SID_B=$(echo "$START_B" | field Acct-Session-Id)
[ -n "$SID_B" ] && [ "$SID_B" != "$SID_A" ] || fail "B's Acct-Session-Id '$SID_B' is not a new one (A's $SID_A)"
log "Start vpn-b Acct-Session-Id=$SID_B, same Acct-Multi-Session-Id=$MULTI"

# --- 4. mail through B ---------------------------------------------------------------------------
wait_for 10 "B's SMTP listener" in_laptop bash -c "exec 3<>/dev/tcp/10.77.0.1/587"
in_laptop python3 - "$WORK/pki/ca.pem" <<'PY' >"$WORK/smtp.out" 2>&1 || fail "submission to B failed: $(cat "$WORK/smtp.out")"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])  # both certificates name 10.77.0.1
s = smtplib.SMTP("10.77.0.1", 587, local_hostname="laptop.test", timeout=20)
s.starttls(context=ctx)
s.sendmail("alice@example.test", ["bob@example.test"],
           "From: <alice@example.test>\r\nTo: <bob@example.test>\r\nSubject: after-failover\r\n"
           "Message-ID: <after-failover-radius@laptop.test>\r\n\r\nsent through server B\r\n")
s.quit()
print("submitted")
PY
wait_for 15 "delivery in B's Maildir" bash -c "grep -lqsx 'Subject: after-failover'\$'\\r' '$WORK/b/maildir/bob@example.test/new/'*"
grep -q 'identity=alice' "$WORK/server-b.log" || fail "B's mail log does not name alice"
log "mail submitted after the failover was delivered by server B"

# --- 5. Stop from B ------------------------------------------------------------------------------
kill "$LAPTOP_PID"; wait "$LAPTOP_PID" 2>/dev/null || true
wait_for 10 "a Stop from vpn-b" bash -c "[ -n \"\$(awk 'BEGIN{RS=\"\"} /Stop/ && /vpn-b/' '$detail' 2>/dev/null)\" ]"
STOP_B=$(record Stop vpn-b)
[ "$(echo "$STOP_B" | field Acct-Multi-Session-Id)" = "$MULTI" ] || fail "B's Stop lacks Acct-Multi-Session-Id: $STOP_B"
[ "$(echo "$STOP_B" | field Acct-Session-Id)" = "$SID_B" ] || fail "B's Stop is not for session $SID_B: $STOP_B"
echo "$STOP_B" | grep -q 'Acct-Terminate-Cause = User-Request' || fail "B's Stop without User-Request: $STOP_B"
down=$(grep 'session_down identity=alice' "$WORK/server-b.log" | head -1)
in_octets=$(echo "$STOP_B" | field Acct-Input-Octets)
out_octets=$(echo "$STOP_B" | field Acct-Output-Octets)
[ "${in_octets:-0}" -gt 0 ] || fail "B's Stop counted no input: $STOP_B"
[ "$(echo "$down" | sed -n 's/.* rx_bytes=\([0-9]*\).*/\1/p')" = "$in_octets" ] || fail "Stop input octets $in_octets differ from B's: $down"
[ "$(echo "$down" | sed -n 's/.* tx_bytes=\([0-9]*\).*/\1/p')" = "$out_octets" ] || fail "Stop output octets $out_octets differ from B's: $down"
log "Stop vpn-b session $SID_B multi $MULTI in=$in_octets out=$out_octets (A died without a Stop: kill -9)"

# --- 6. Accounting-On / Accounting-Off ------------------------------------------------------------
[ "$(statuses vpn-a)" = "Accounting-On Start " ] || fail "vpn-a's records before its restart: '$(statuses vpn-a)'"
ON_A1=$(record Accounting-On vpn-a | field Acct-Session-Id)
ip netns exec "$NS_A" "$POSTERN_BIN" server -c "$WORK/a/site.toml" >"$WORK/server-a2.log" 2>&1 &
PIDS+=($!)
wait_for 10 "a second Accounting-On from vpn-a" bash -c "[ \"\$(grep -c 'status=Accounting-On' '$WORK/server-a2.log')\" = 1 ]"
[ "$(statuses vpn-a)" = "Accounting-On Start Accounting-On " ] || fail "vpn-a's records after its restart: '$(statuses vpn-a)'"
ON_A2=$(awk -v nas='NAS-Identifier = "vpn-a"' 'BEGIN{RS=""} index($0, nas) && /Accounting-On/ {r=$0} END {print r}' "$detail" | field Acct-Session-Id)
[ -n "$ON_A1" ] && [ -n "$ON_A2" ] && [ "$ON_A1" != "$ON_A2" ] || fail "A's two Accounting-On share or lack an Acct-Session-Id: '$ON_A1' '$ON_A2'"
[ "$ON_A1" != "$SID_A" ] || fail "A's Accounting-On reused a session's Acct-Session-Id"
PID_B=$(postern_pid "$NS_B")
kill -TERM "$PID_B"
wait_for 15 "server B to exit" bash -c "! kill -0 $PID_B 2>/dev/null"
[ "$(statuses vpn-b)" = "Accounting-On Start Stop Accounting-Off " ] || fail "vpn-b's records: '$(statuses vpn-b)'"
[ "$(record Accounting-Off vpn-b | field Acct-Session-Id)" = "$(record Accounting-On vpn-b | field Acct-Session-Id)" ] \
  || fail "B's Accounting-Off is not for its Accounting-On's Acct-Session-Id"
grep -q 'accounting_sent status=Accounting-Off' "$WORK/server-b.log" || fail "B did not log its Accounting-Off"
log "Accounting-On from A at each start ($ON_A1, then $ON_A2 after the kill -9); B: $(statuses vpn-b)"
log "PASS"
