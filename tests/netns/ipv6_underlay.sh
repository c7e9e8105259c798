#!/usr/bin/env bash
# Issue 13 (IPv6 underneath the tunnel), an IPv6-only underlay: the veth between laptop and site
# has IPv6 addresses only, the server listens on its IPv6 address and the client's `server` is
# an IPv6 literal. Then:
#   - the session comes up on UDP over IPv6 (client log, `postern status` of both ends: the
#     outer addresses are IPv6), a ping and a 20 MB TCP transfer (SHA-256 checked) go through;
#   - `postern capture` on the laptop's outer interface during the transfer sees only GRE-in-UDP
#     and the control channel's TLS, both over IPv6, besides ICMPv6 neighbour discovery;
#   - nftables (ip6) drops UDP to the server: both ends move to the TLS fallback and traffic
#     flows (ping + 5 MB); the rule removed, they come back to UDP over IPv6.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_ipv6.sh"
require_root
command -v python3 >/dev/null || skip "python3 is not installed"
command -v nft >/dev/null || skip "nft (nftables) is not installed"
make_topology_v6
make_pki_v6
write_server_config "$WORK/site.toml"
set_listen "$WORK/site.toml" "[$SITE6]:1723"
CLIENT_SERVER="[$SITE6]:1723" write_client_config "$WORK/laptop.toml" \
  'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
in_laptop ip -4 addr show | grep -q 'inet 10\.200' && fail "the laptop has an IPv4 underlay address"

up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
wait_for_log 10 "$WORK/laptop.log" "session_up.*data=\\[$SITE6\\]:1723"
grep -q 'transport_switched' "$WORK/laptop.log" && fail "the client left UDP on a network where UDP works"

# --- status: IPv6 outer addresses, transport udp ------------------------------------------------
"$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/server.json" || fail "status (server)"
"$POSTERN_BIN" status -c "$WORK/laptop.toml" --json >"$WORK/laptop.json" || fail "status (client)"
python3 - "$WORK/server.json" "$WORK/laptop.json" "$LAPTOP6" "$SITE6" <<'PY' || fail "status check"
import json, sys
server, laptop = (json.load(open(f)) for f in sys.argv[1:3])
laptop6, site6 = sys.argv[3:5]
s = server["sessions"][0]
assert s["outer_address"].startswith(f"[{laptop6}]:"), s["outer_address"]
assert s["transport"] == "udp", s["transport"]
c = laptop["sessions"][0]
assert c["outer_address"] == f"[{site6}]:1723", c["outer_address"]
assert c["transport"] == "udp", c["transport"]
print("status: server sees", s["outer_address"], "client sends to", c["outer_address"])
PY
"$POSTERN_BIN" status --socket "$WORK/server.sock" >"$WORK/server.txt" || fail "status text (server)"
grep -q "\\[$LAPTOP6\\]:" "$WORK/server.txt" || fail "the text status does not show the IPv6 peer: $(cat "$WORK/server.txt")"
log "status shows the IPv6 peers, transport udp"

# --- traffic and the capture ---------------------------------------------------------------------
start_capture "$NS_LAPTOP" "$VETH_LAPTOP" "$WORK/capture.json"
in_laptop ping -c 3 -i 0.2 -W 2 10.77.0.1 >"$WORK/ping.log" || fail "ping through the tunnel"
transfer_sha 20 40
stop_capture  # (with UDP GSO the veth carries whole trains: hundreds of frames, not 15000)
MIN_DATA=200 capture_check "$WORK/capture.json" || fail "capture: not only GRE-in-UDP over IPv6 (see above)"
log "capture: only sealed traffic over IPv6"

# --- UDP blocked over IPv6: TLS fallback and back ------------------------------------------------
grep -q 'transport_switched' "$WORK/laptop.log" && fail "the client left UDP before UDP was blocked"
in_laptop nft -f - <<NFT || fail "nft"
table ip6 pst_block {
  chain out {
    type filter hook output priority 0; policy accept;
    ip6 daddr $SITE6 udp dport 1723 drop
  }
}
NFT
wait_for_log 15 "$WORK/laptop.log" 'transport_switched.*transport=tls'
# The server follows the client's data (not its probes) onto TLS: send some.
in_laptop ping -c 3 -i 0.2 -W 2 10.77.0.1 >>"$WORK/ping.log" || fail "ping over the TLS fallback"
wait_for_log 10 "$WORK/server.log" 'transport_switched.*transport=tls'
log "both ends on the TLS fallback"
rm -f "$WORK/recv.out"  # transfer_sha waits for "listening" in it: not the first transfer's
transfer_sha 5 40
in_laptop nft delete table ip6 pst_block || fail "nft delete"
wait_for_log 15 "$WORK/laptop.log" 'transport_switched.*transport=udp'
# The server follows the client's data back to UDP: send some.
in_laptop ping -c 3 -i 0.2 -W 2 10.77.0.1 >>"$WORK/ping.log" || fail "ping after UDP came back"
wait_for_log 10 "$WORK/server.log" 'transport_switched.*transport=udp'
"$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/server.json" || fail "status (server)"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["sessions"][0]; assert s["transport"]=="udp", s' \
  "$WORK/server.json" || fail "the server is not back on UDP"
log "back on UDP over IPv6"
log "PASS"
