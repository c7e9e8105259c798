#!/usr/bin/env bash
# Issue 11 item 4: the laptop moves to another network mid-transfer. A new subnet appears on its
# veth (10.201.0.1/24, the server reachable through a host route from it), then the old address
# 10.200.0.1 is removed, so the control connection (TCP, bound to the old address) goes dead while
# the data channel (unconnected UDP) carries on from the new address. With a 1 s keepalive both
# ends would declare the peer dead after 3 s of control silence; because authenticated data-channel
# traffic counts as liveness, the session, the laptop's tunnel address and the inner TCP
# connection survive: the transfer completes with a matching SHA-256 and neither log shows a
# second handshake.
source "$(dirname "$0")/lib.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
command -v tc >/dev/null || skip "tc (iproute2) is not installed"
make_topology
make_pki
write_server_config "$WORK/site.toml"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' \
  'keepalive = "1s"'
# 20 Mbit/s out of the laptop: 30 MB take ~12 s, so the move happens with data in flight and the
# transfer outlives the 3 s dead-peer time by several times.
tc -n "$NS_LAPTOP" qdisc add dev "$VETH_LAPTOP" root tbf rate 20mbit burst 32k latency 100ms
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"

move_laptop() {
  sleep 3
  ip -n "$NS_LAPTOP" addr add 10.201.0.1/24 dev "$VETH_LAPTOP"
  ip -n "$NS_SITE" route add 10.201.0.0/24 dev "$VETH_SITE"
  # The server stays reachable from the new network (a host route with the new source); then the
  # old address goes away, and with it every socket bound to it.
  ip -n "$NS_LAPTOP" route add 10.200.0.2/32 dev "$VETH_LAPTOP" src 10.201.0.1
  ip -n "$NS_LAPTOP" addr del 10.200.0.1/24 dev "$VETH_LAPTOP"
  echo moved >"$WORK/moved"
}
move_laptop &
PIDS+=($!)
transfer_sha 30 60
[ -f "$WORK/moved" ] || fail "the transfer finished before the laptop moved"
ip -n "$NS_LAPTOP" -4 -o addr show dev "$VETH_LAPTOP" | grep -q "10.200.0.1" && fail "the old address is still there"

grep -Eq "peer_moved.*to=10\.201\.0\.1:" "$WORK/server.log" || fail "the server did not follow the laptop to 10.201.0.1"
ups=$(grep -c "session_up" "$WORK/laptop.log" || true)
[ "$ups" -eq 1 ] || fail "the laptop set up $ups sessions (expected 1: no reconnect)"
tls=$(grep -c "tls_established" "$WORK/laptop.log" || true)
[ "$tls" -eq 1 ] || fail "the laptop made $tls TLS handshakes (expected 1)"
grep -q "disconnected" "$WORK/laptop.log" && fail "the laptop logged a disconnect"
server_ups=$(grep -c "session_up" "$WORK/server.log" || true)
[ "$server_ups" -eq 1 ] || fail "the server set up $server_ups sessions (expected 1)"
grep -Eq "session_down|peer dead" "$WORK/server.log" && fail "the server ended the session"
[ "$(tunnel_address "$NS_LAPTOP" pst0)" = "$LAPTOP_ADDRESS" ] || fail "the laptop's tunnel address changed"
# Still alive after the transfer: idle keepalives over UDP carry the liveness now.
sleep 4
in_laptop ping -c 1 -W 2 10.77.0.1 >/dev/null || fail "no ping through the tunnel after the move"
[ "$(grep -c "session_up" "$WORK/laptop.log" || true)" -eq 1 ] || fail "the laptop reconnected after the transfer"
log "transfer survived the move to 10.201.0.1 on one session ($(grep -c 'peer_moved' "$WORK/server.log") moves logged)"
log "PASS"
