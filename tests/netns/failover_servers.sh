#!/usr/bin/env bash
# Issue 14 item 3: several site servers with failover (docs/site-servers.md). Two servers in two
# namespaces (site-a 10.200.0.1, site-b 10.200.0.2) and the laptop (10.200.0.10) joined by a
# bridge in the laptop namespace. Each server has its own pool (A 10.77.1.0/24, B 10.77.2.0/24),
# pushes the site route 10.77.0.0/16, its own certificate (A's names only a.site.test, B's only
# b.site.test: the name checked must be the one of the server being tried) and its own [smtp]
# listener on its tunnel address, delivering to its own Maildir. The laptop's /etc/hosts maps
# the two names; its client lists servers = ["a.site.test:8443", "b.site.test:8443"] (ordered).
#   1. the laptop comes up on A (address from A's pool), a ping to 10.77.1.1 answers, and
#      `postern status` shows A current and up, B untried;
#   2. kill -9 of server A mid-session (a ping running): the laptop is on B with an address from
#      B's pool and pings 10.77.2.1 within 10 s of the kill (measured from timestamps); the route
#      only A pushed (10.99.0.0/24) is gone from pst0, the site route both push is still there;
#   3. status shows B current and up, A failed with its failure counted;
#   4. mail submitted right after (python smtplib, STARTTLS, the laptop's tunnel identity) to B's
#      listener 10.77.2.1:587 lands in B's Maildir.
source "$(dirname "$0")/lib.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"

NS_A="$ID-a"
NS_B="$ID-b"
add_ns "$NS_A"
add_ns "$NS_B"
add_ns "$NS_LAPTOP"
ip -n "$NS_LAPTOP" link add br0 type bridge
ip -n "$NS_LAPTOP" link set br0 up
ip -n "$NS_LAPTOP" addr add 10.200.0.10/24 dev br0
i=0
for ns in "$NS_A" "$NS_B"; do
  i=$((i + 1))
  ip link add "${ID}s$i" type veth peer name "${ID}l$i"
  ip link set "${ID}s$i" netns "$ns"
  ip link set "${ID}l$i" netns "$NS_LAPTOP"
  ip -n "$NS_LAPTOP" link set "${ID}l$i" master br0 up
  ip -n "$ns" addr add "10.200.0.$i/24" dev "${ID}s$i"
  ip -n "$ns" link set "${ID}s$i" up
done
mkdir -p "/etc/netns/$NS_LAPTOP"
printf '10.200.0.1 a.site.test\n10.200.0.2 b.site.test\n' >"/etc/netns/$NS_LAPTOP/hosts"

# One CA; A's certificate names a.site.test (and its tunnel address, for SMTP), B's b.site.test.
"$POSTERN_BIN" pki init "$WORK/pki" --server-name a.site.test --server-name 10.77.1.1 >"$WORK/pki.log" 2>&1 || fail "pki init"
"$POSTERN_BIN" pki issue "$WORK/pki" b-server --server --server-name b.site.test --server-name 10.77.2.1 \
  >>"$WORK/pki.log" 2>&1 || fail "pki issue b-server"
"$POSTERN_BIN" pki issue "$WORK/pki" laptop >>"$WORK/pki.log" 2>&1 || fail "pki issue laptop"
chmod 755 "$WORK/pki"

# server_config NAME ADDRESS POOL_PREFIX CERT ROUTES
server_config() {
  local name=$1 addr=$2 net=$3 cert=$4 routes=$5
  mkdir -p "$WORK/$name"
  chmod 755 "$WORK/$name"
  cat >"$WORK/$name/site.toml" <<CONF
[tunnel]
listen = "$addr:8443"
certificate = "$WORK/pki/$cert.pem"
private_key = "$WORK/pki/$cert.key"
client_ca = "$WORK/pki/ca.pem"
pool = "10.77.$net.0/24"
routes = $routes
interface = "pst0"

[smtp]
listen = ["10.77.$net.1:587 starttls"]
hostname = "mail-$name.example.test"
certificate = "$WORK/pki/$cert.pem"
private_key = "$WORK/pki/$cert.key"
spool = "spool"
maildir = "maildir"
domains = ["example.test"]

[daemon]
status_socket = "$WORK/$name.sock"
CONF
}
# A also pushes a route B does not: after the failover the laptop must not keep it.
server_config a 10.200.0.1 1 server '["10.77.0.0/16", "10.99.0.0/24"]'
server_config b 10.200.0.2 2 b-server '["10.77.0.0/16"]'

cat >"$WORK/laptop.toml" <<CONF
[tunnel]
servers = ["a.site.test:8443", "b.site.test:8443"]
server_order = "ordered"
connect_timeout = "2s"
ca = "pki/ca.pem"
certificate = "pki/laptop.pem"
private_key = "pki/laptop.key"
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
start_client "$WORK/laptop.toml" laptop

# --- 1. on A ---------------------------------------------------------------------------------
wait_for 15 "an address from A's pool" bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.1.'"
wait_for 10 "a ping to A through the tunnel" in_laptop ping -c 1 -W 1 10.77.1.1
ADDRESS_A=$(tunnel_address "$NS_LAPTOP" pst0)
ip -n "$NS_LAPTOP" route show dev pst0 | grep -q '^10.99.0.0/24' || fail "A's route 10.99.0.0/24 is not on pst0: $(ip -n "$NS_LAPTOP" route show dev pst0)"
log "laptop is $ADDRESS_A on server A"
grep -q 'session_up .*server=a.site.test:8443' "$WORK/laptop.log" || fail "no 'session_up' naming a.site.test:8443"

status_json() { "$POSTERN_BIN" status --json --socket "$WORK/laptop.sock"; }
# server_field JSON INDEX FIELD
server_field() {
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["servers"][int(sys.argv[2])][sys.argv[3]])' "$@"
}
S=$(status_json) || fail "postern status on the laptop"
[ "$(server_field "$S" 0 current)" = True ] && [ "$(server_field "$S" 0 state)" = up ] \
  || fail "status does not show A current and up: $S"
[ "$(server_field "$S" 1 state)" = untried ] || fail "status does not show B untried: $S"
[ "$(server_field "$S" 0 address)" = 10.200.0.1 ] || fail "status does not show A's address: $S"
"$POSTERN_BIN" status --socket "$WORK/laptop.sock" >"$WORK/status-a.txt" || fail "status text"
grep -Eq '^  \* a\.site\.test:8443 +up ' "$WORK/status-a.txt" || fail "status text: $(cat "$WORK/status-a.txt")"

# --- 2. kill -9 A mid-session ------------------------------------------------------------------
in_laptop ping -i 0.2 -W 1 10.77.1.1 >"$WORK/ping-a.out" 2>&1 &
PIDS+=($!)
sleep 1
grep -q 'bytes from 10.77.1.1' "$WORK/ping-a.out" || fail "no ping replies from A before the kill"
T_KILL=$(date +%s%N)
kill -9 "$PID_A"
log "killed server A (pid $PID_A)"
deadline=$((SECONDS + 15))
until ip -n "$NS_LAPTOP" -4 addr show dev pst0 2>/dev/null | grep -q 'inet 10.77.2.' &&
      in_laptop ping -c 1 -W 1 10.77.2.1 >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the laptop did not reach B within 15 s of the kill"
  sleep 0.1
done
T_ON_B=$(date +%s%N)
ADDRESS_B=$(tunnel_address "$NS_LAPTOP" pst0)
FAILOVER_MS=$(((T_ON_B - T_KILL) / 1000000))
routes_b=$(ip -n "$NS_LAPTOP" route show dev pst0)
echo "$routes_b" | grep -q '^10.99.0.0/24' && fail "the route only A pushed is still on pst0 after the move to B: $routes_b"
echo "$routes_b" | grep -q '^10.77.0.0/16' || fail "the site route is missing on B: $routes_b"
log "laptop is $ADDRESS_B on server B, ${FAILOVER_MS} ms after the kill (address and a ping answered; A's own route removed)"
[ "$FAILOVER_MS" -lt 10000 ] || fail "failover took ${FAILOVER_MS} ms (limit 10000)"
grep -q 'session_up .*server=b.site.test:8443' "$WORK/laptop.log" || fail "no 'session_up' naming b.site.test:8443"
# B verified its own name: the client never asked B's certificate for a.site.test.
grep -q 'name mismatch' "$WORK/laptop.log" && fail "a certificate name mismatch was logged"

# --- 3. status after the failover ----------------------------------------------------------------
S=$(status_json) || fail "postern status on the laptop"
[ "$(server_field "$S" 1 current)" = True ] && [ "$(server_field "$S" 1 state)" = up ] \
  || fail "status does not show B current and up: $S"
[ "$(server_field "$S" 0 state)" = failed ] && [ "$(server_field "$S" 0 failures)" -ge 1 ] \
  || fail "status does not show A failed: $S"
log "status: A $(server_field "$S" 0 state) ($(server_field "$S" 0 last_error)), B $(server_field "$S" 1 state)"

# --- 4. mail through B ---------------------------------------------------------------------------
wait_for 10 "B's SMTP listener" in_laptop bash -c "exec 3<>/dev/tcp/10.77.2.1/587"
in_laptop python3 - "$WORK/pki/ca.pem" <<'PY' >"$WORK/smtp.out" 2>&1 || fail "submission to B failed: $(cat "$WORK/smtp.out")"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])  # B's certificate names 10.77.2.1
s = smtplib.SMTP("10.77.2.1", 587, local_hostname="laptop.test", timeout=20)
s.starttls(context=ctx)
s.sendmail("laptop@example.test", ["alice@example.test"],
           "From: <laptop@example.test>\r\nTo: <alice@example.test>\r\nSubject: after-failover\r\n"
           "Message-ID: <after-failover@laptop.test>\r\n\r\nsent through server B\r\n")
s.quit()
print("submitted")
PY
wait_for 15 "delivery in B's Maildir" bash -c "grep -lqsx 'Subject: after-failover'\$'\\r' '$WORK/b/maildir/alice@example.test/new/'*"
grep -qs 'after-failover' "$WORK"/a/maildir/*/new/* 2>/dev/null && fail "the message landed on A"
log "mail submitted after the failover was delivered by server B"
log "PASS"
