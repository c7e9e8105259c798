#!/usr/bin/env bash
# Several clients at once, each with its own session, key and address; they reach the server but
# not each other (client_to_client = false), and a reconnecting client keeps its address.
source "$(dirname "$0")/lib.sh"
require_root
make_topology
make_pki
"$POSTERN_BIN" pki issue "$WORK/pki" laptop2 >/dev/null 2>&1 || fail "pki issue laptop2"
NS_LAPTOP2="$ID-laptop2"
add_ns "$NS_LAPTOP2"
ip link add "${ID}e" type veth peer name "${ID}f"
ip link set "${ID}e" netns "$NS_LAPTOP2"
ip link set "${ID}f" netns "$NS_SITE"
ip -n "$NS_LAPTOP2" addr add 10.201.0.1/24 dev "${ID}e"
ip -n "$NS_SITE" addr add 10.201.0.2/24 dev "${ID}f"
ip -n "$NS_LAPTOP2" link set "${ID}e" up
ip -n "$NS_SITE" link set "${ID}f" up
ip -n "$NS_LAPTOP2" route add 10.200.0.0/24 via 10.201.0.2

write_server_config "$WORK/site.toml"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
write_client_config "$WORK/laptop2.toml" 'certificate = "pki/laptop2.pem"' 'private_key = "pki/laptop2.key"'
start_server "$WORK/site.toml"
wait_for 10 "server" in_site ip link show pst0
start_client "$WORK/laptop.toml" laptop
start_client "$WORK/laptop2.toml" laptop2 "$NS_LAPTOP2"
wait_for 15 "laptop address" bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
wait_for 15 "laptop2 address" bash -c "ip -n $NS_LAPTOP2 -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
a1=$(tunnel_address "$NS_LAPTOP" pst0); a2=$(tunnel_address "$NS_LAPTOP2" pst0)
log "laptop=$a1 laptop2=$a2"
[ "$a1" != "$a2" ] || fail "two clients got the same address"
in_laptop ping -c 2 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "laptop ping"
ip netns exec "$NS_LAPTOP2" ping -c 2 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "laptop2 ping"
log "both clients reach the server"
in_laptop ping -c 2 -i 0.2 -W 1 "$a2" >/dev/null 2>&1 && fail "client reached another client (client_to_client is off)"
log "clients are isolated from each other"

kill "$CLIENT_PID"; wait "$CLIENT_PID" 2>/dev/null || true
sleep 0.5
start_client "$WORK/laptop2.toml" laptop2-again "$NS_LAPTOP2"
wait_for 15 "laptop2 reconnect" bash -c "ip -n $NS_LAPTOP2 -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
a2b=$(tunnel_address "$NS_LAPTOP2" pst0)
[ "$a2" = "$a2b" ] || fail "reconnecting client got $a2b instead of its address $a2"
ip netns exec "$NS_LAPTOP2" ping -c 2 -i 0.2 -W 2 10.77.0.1 >/dev/null || fail "laptop2 ping after reconnect"
log "reconnect keeps the address ($a2)"
log "PASS"
