#!/usr/bin/env bash
# Issue 13 (IPv6 underneath the tunnel): roaming within IPv6, as resilience_move.sh does for
# IPv4. On an IPv6-only underlay the laptop gets a new address in another prefix (fd00:201::1,
# the server reachable from it through a host route) and loses its old one mid-transfer: the
# data channel (the dual-stack UDP socket, unbound) carries on from the new address, the server
# follows it (`peer_moved to=[fd00:201::1]:port`), and with a 1 s keepalive the session, the
# tunnel address and the inner TCP connection survive: 30 MB with a matching SHA-256, one
# session in each log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ipv6.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
command -v tc >/dev/null || skip "tc (iproute2) is not installed"
make_topology_v6
make_pki_v6
write_server_config "$WORK/site.toml"
set_listen "$WORK/site.toml" "[$SITE6]:1723"
CLIENT_SERVER="[$SITE6]:1723" write_client_config "$WORK/laptop.toml" \
  'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' 'keepalive = "1s"'
# 20 Mbit/s out of the laptop: the move happens with data in flight (see resilience_move.sh).
tc -n "$NS_LAPTOP" qdisc add dev "$VETH_LAPTOP" root tbf rate 20mbit burst 32k latency 100ms
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"

move_laptop() {
  sleep 3
  ip -n "$NS_LAPTOP" addr add fd00:201::1/64 dev "$VETH_LAPTOP" nodad
  ip -n "$NS_SITE" -6 route add fd00:201::/64 dev "$VETH_SITE"
  ip -n "$NS_LAPTOP" -6 route add "$SITE6/128" dev "$VETH_LAPTOP" src fd00:201::1
  ip -n "$NS_LAPTOP" addr del "$LAPTOP6/64" dev "$VETH_LAPTOP"
  echo moved >"$WORK/moved"
}
move_laptop &
PIDS+=($!)
transfer_sha 30 60
[ -f "$WORK/moved" ] || fail "the transfer finished before the laptop moved"
grep -Eq "peer_moved.*to=\[fd00:201::1\]:" "$WORK/server.log" || fail "the server did not follow the laptop to fd00:201::1"
ups=$(grep -c "session_up" "$WORK/laptop.log" || true)
[ "$ups" -eq 1 ] || fail "the laptop set up $ups sessions (expected 1: no reconnect)"
server_ups=$(grep -c "session_up" "$WORK/server.log" || true)
[ "$server_ups" -eq 1 ] || fail "the server set up $server_ups sessions (expected 1)"
[ "$(tunnel_address "$NS_LAPTOP" pst0)" = "$LAPTOP_ADDRESS" ] || fail "the laptop's tunnel address changed"
"$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/server.json" || fail "status (server)"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["sessions"][0]; assert s["outer_address"].startswith("[fd00:201::1]:"), s' \
  "$WORK/server.json" || fail "the server's status does not show the new IPv6 address"
log "transfer survived the move to fd00:201::1 on one session"
log "PASS"
