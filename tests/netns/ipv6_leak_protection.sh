#!/usr/bin/env bash
# Issue 13 (IPv6 underneath the tunnel) with leak protection: the server is reached over IPv6
# through the laptop's IPv6 default route (it listens on fd00:300::2, an address beyond the
# link), the server pushes an IPv4 default route, and the client runs leak_protection = true
# with leak_protection_ipv6 = "block". The IPv6 block then refuses every unmarked packet that
# only the default route would carry, so:
#   - an unmarked ping6 to fd00:300::2 from the laptop fails (the block is in force);
#   - the tunnel still comes up over IPv6 (the control socket is marked before connect) and stays
#     on UDP (the dual-stack data socket is marked at bind), a ping and 5 MB go through it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ipv6.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
SERVER6=fd00:300::2
make_topology_v6
make_pki_v6 "$SERVER6"
ip -n "$NS_SITE" addr add "$SERVER6/128" dev lo nodad
ip -n "$NS_LAPTOP" -6 route add default via "$SITE6" dev "$VETH_LAPTOP"
wait_for 5 "the server address through the default route" in_laptop ping -6 -c 1 -W 1 "$SERVER6"
SITE_ROUTES=', "0.0.0.0/0"' write_server_config "$WORK/site.toml"
set_listen "$WORK/site.toml" "[$SERVER6]:1723"
CLIENT_SERVER="[$SERVER6]:1723" write_client_config "$WORK/laptop.toml" \
  'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' 'leak_protection = true'

up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for_log 5 "$WORK/laptop.log" "session_up.*data=\\[$SERVER6\\]:1723"
wait_for_log 5 "$WORK/laptop.log" 'ipv6_leak_protection_on'
if in_laptop ping -6 -c 1 -W 1 "$SERVER6" >"$WORK/ping6.log" 2>&1; then
  fail "an unmarked ping6 to $SERVER6 went out: the IPv6 block is not in force"
fi
log "unmarked IPv6 beyond the link is refused"
in_laptop ping -c 3 -i 0.2 -W 2 10.77.0.1 >"$WORK/ping.log" || fail "ping through the tunnel"
transfer_sha 5 40
grep -q 'transport_switched' "$WORK/laptop.log" && fail "the data channel left UDP: its IPv6 datagrams were refused"
"$POSTERN_BIN" status -c "$WORK/laptop.toml" --json >"$WORK/laptop.json" || fail "status (client)"
python3 - "$WORK/laptop.json" "$SERVER6" <<'PY' || fail "client status check"
import json, sys
c = json.load(open(sys.argv[1]))["sessions"][0]
assert c["outer_address"] == f"[{sys.argv[2]}]:1723", c["outer_address"]
assert c["transport"] == "udp" and c["rx_packets"] > 0, c
PY
log "the tunnel's own IPv6 (marked) passes: up over IPv6, UDP, 5 MB"
log "PASS"
