#!/usr/bin/env bash
# Issue 13 (IPv6 underneath the tunnel), a dual-stack underlay and a server listening on [::]:
#   - an IPv4 client (laptop, server 10.200.0.2) and an IPv6 client (laptop2, server
#     [fd00:201::2]) are both up on UDP: the server's `postern status` lists the IPv4 one as
#     10.200.0.1:port (unmapped, not ::ffff:10.200.0.1) and the IPv6 one as [fd00:201::1]:port,
#     both transport udp with UDP datagrams counted, and both ping through their tunnels;
#   - Happy Eyeballs: vpn.test resolves to both families in the laptop's /etc/hosts and the
#     laptop's IPv6 to the server is blackholed (nftables drop: the SYN gets no answer), with
#     connect_timeout = 30s: the client tries IPv6 first (the drop rule counts its SYN) and is up
#     over IPv4 within 8 s, far less than connect_timeout (the next attempt started after
#     connect_attempt_delay, not after the timeout).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ipv6.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
command -v nft >/dev/null || skip "nft (nftables) is not installed"
DUAL=1 make_topology_v6
make_pki_v6 fd00:201::2
# laptop2 on a second, IPv6-only link to the site.
NS_LAPTOP2="$ID-laptop2"
add_ns "$NS_LAPTOP2"
ip link add "${ID}e" type veth peer name "${ID}f"
ip link set "${ID}e" netns "$NS_LAPTOP2"
ip link set "${ID}f" netns "$NS_SITE"
ip -n "$NS_LAPTOP2" addr add fd00:201::1/64 dev "${ID}e" nodad
ip -n "$NS_SITE" addr add fd00:201::2/64 dev "${ID}f" nodad
ip -n "$NS_LAPTOP2" link set "${ID}e" up
ip -n "$NS_SITE" link set "${ID}f" up

write_server_config "$WORK/site.toml"
set_listen "$WORK/site.toml" "[::]:1723"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
CLIENT_SERVER="[fd00:201::2]:1723" write_client_config "$WORK/laptop2.toml" \
  'certificate = "pki/laptop2.pem"' 'private_key = "pki/laptop2.key"'

up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
LAPTOP_PID=$CLIENT_PID
start_client "$WORK/laptop2.toml" laptop2 "$NS_LAPTOP2"
wait_for 15 "laptop2 tunnel address" bash -c "ip -n $NS_LAPTOP2 -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
ip netns exec "$NS_LAPTOP2" ping -c 3 -i 0.2 -W 2 10.77.0.1 >"$WORK/ping2.log" || fail "laptop2 ping"
in_laptop ping -c 3 -i 0.2 -W 2 10.77.0.1 >"$WORK/ping.log" || fail "laptop ping"
grep -q 'session_up.*data=10.200.0.2:1723' "$WORK/laptop.log" || fail "laptop: data channel not to 10.200.0.2"
grep -q 'session_up.*data=\[fd00:201::2\]:1723' "$WORK/laptop2.log" || fail "laptop2: data channel not to [fd00:201::2]"
"$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/server.json" || fail "status (server)"
python3 - "$WORK/server.json" <<'PY' || fail "server status check"
import json, sys
sessions = json.load(open(sys.argv[1]))["sessions"]
by_identity = {s["identity"]: s for s in sessions}
assert set(by_identity) == {"laptop", "laptop2"}, sessions
v4, v6 = by_identity["laptop"], by_identity["laptop2"]
assert v4["outer_address"].startswith("10.200.0.1:"), v4["outer_address"]
assert v6["outer_address"].startswith("[fd00:201::1]:"), v6["outer_address"]
for s in (v4, v6):
    assert s["transport"] == "udp", s
    assert s["rx_packets"] > 0, s
print("server:", v4["identity"], v4["outer_address"], v4["transport"], "|", v6["identity"], v6["outer_address"], v6["transport"])
PY
grep -q 'ffff:' "$WORK/server.log" && fail "the server log shows a v4-mapped address: $(grep 'ffff:' "$WORK/server.log" | head -3)"
log "IPv4 and IPv6 clients on one [::] server, both on UDP"

# --- Happy Eyeballs: IPv6 blackholed, IPv4 wins within about the attempt delay -------------------
kill "$LAPTOP_PID"; wait "$LAPTOP_PID" 2>/dev/null || true
wait_for 10 "the laptop's tunnel interface gone" bash -c "! ip -n $NS_LAPTOP link show pst0"
hosts_entry "$NS_LAPTOP" "$SITE6 vpn.test" "10.200.0.2 vpn.test"
in_laptop getent ahosts vpn.test >"$WORK/ahosts.txt" || fail "vpn.test does not resolve in the laptop namespace"
grep -q "^$SITE6 " "$WORK/ahosts.txt" && grep -q '^10.200.0.2 ' "$WORK/ahosts.txt" \
  || fail "vpn.test should resolve to both families: $(cat "$WORK/ahosts.txt")"
in_laptop nft -f - <<NFT || fail "nft"
table ip6 pst_blackhole {
  chain out {
    type filter hook output priority 0; policy accept;
    ip6 daddr $SITE6 tcp dport 1723 counter drop
  }
}
NFT
CLIENT_SERVER="vpn.test:1723" write_client_config "$WORK/laptop-he.toml" \
  'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' 'connect_timeout = "30s"'
start_client "$WORK/laptop-he.toml" laptop-he
# 8 s: the 250 ms delay plus the TLS handshake and the negotiation, with room for a slow host;
# a client that waited for connect_timeout (30 s) fails this.
wait_for_log 8 "$WORK/laptop-he.log" 'tls_established.*address=10\.200\.0\.2'
wait_for 10 "laptop tunnel address" bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
in_laptop ping -c 3 -i 0.2 -W 2 10.77.0.1 >>"$WORK/ping.log" || fail "ping after Happy Eyeballs"
dropped=$(in_laptop nft list table ip6 pst_blackhole | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
[ "${dropped:-0}" -ge 1 ] || fail "no IPv6 SYN was tried first (the blackhole counted ${dropped:-0} packets)"
grep -q 'trying_next_address.*address=10.200.0.2' "$WORK/laptop-he.log" \
  || fail "the client did not move on to IPv4 as the next address"
grep -q 'connect_timeout' "$WORK/laptop-he.log" && fail "the client waited for connect_timeout"
log "Happy Eyeballs: IPv6 tried first (${dropped} SYN dropped), up over IPv4 without waiting for connect_timeout"
log "PASS"
