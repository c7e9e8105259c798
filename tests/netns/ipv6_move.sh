#!/usr/bin/env bash
# Issue 13 (IPv6 underneath the tunnel): a laptop on an IPv4-only network moves to an IPv6-only
# one. The site is dual-stack and listens on [::]; the client's server is vpn.test, which
# resolves to both families (the laptop's /etc/hosts). Started with IPv4 only on the laptop, the
# client is up over IPv4 (its IPv6 attempt fails at once: no route). Then the laptop's IPv4
# address is removed and an IPv6 one added: the control connection and the data channel are cut
# (their source address is gone), the client notices after its 3.5 s dead-peer time (keepalive
# 1s), reconnects over IPv6 with the same tunnel address, the data channel goes to the server's
# IPv6 address on UDP, and traffic flows (ping + 5 MB with SHA-256).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ipv6.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
DUAL=1 make_topology_v6
make_pki_v6
ip -n "$NS_LAPTOP" -6 addr del "$LAPTOP6/64" dev "$VETH_LAPTOP"   # the laptop starts IPv4-only
hosts_entry "$NS_LAPTOP" "$SITE6 vpn.test" "10.200.0.2 vpn.test"
write_server_config "$WORK/site.toml"
set_listen "$WORK/site.toml" "[::]:1723"
CLIENT_SERVER="vpn.test:1723" write_client_config "$WORK/laptop.toml" \
  'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' 'keepalive = "1s"'

up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for_log 5 "$WORK/laptop.log" 'session_up.*data=10\.200\.0\.2:1723'
before=$LAPTOP_ADDRESS
log "up over IPv4 as $before"

ip -n "$NS_LAPTOP" -4 addr flush dev "$VETH_LAPTOP"
ip -n "$NS_LAPTOP" addr add "$LAPTOP6/64" dev "$VETH_LAPTOP" nodad
log "the laptop is now on an IPv6-only network"
wait_for_log 20 "$WORK/laptop.log" "session_up.*data=\\[$SITE6\\]:1723"
wait_for 10 "a ping through the tunnel over IPv6" in_laptop ping -c 1 -W 1 10.77.0.1
after=$(tunnel_address "$NS_LAPTOP" pst0)
[ "$after" = "$before" ] || fail "the tunnel address changed from $before to $after"
transfer_sha 5 40
"$POSTERN_BIN" status -c "$WORK/laptop.toml" --json >"$WORK/laptop.json" || fail "status (client)"
python3 - "$WORK/laptop.json" "$SITE6" <<'PY' || fail "client status check"
import json, sys
c = json.load(open(sys.argv[1]))["sessions"][0]
assert c["outer_address"] == f"[{sys.argv[2]}]:1723", c["outer_address"]
assert c["transport"] == "udp", c["transport"]
print("client:", c["outer_address"], c["transport"])
PY
log "reconnected over IPv6 with the same address ($after), UDP data channel, transfer ok"
log "PASS"
