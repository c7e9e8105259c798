#!/usr/bin/env bash
# End to end through real namespaces and TUN devices: the laptop gets an address from the pool,
# pings the server's tunnel address and a LAN host behind the site, moves 50 MB over TCP with a
# matching SHA-256, and a libpcap capture of the veth meanwhile holds GRE-in-UDP datagrams and
# none of the marker string sent inside the tunnel.
source "$(dirname "$0")/lib.sh"
require_root
command -v tcpdump >/dev/null || skip "tcpdump is not installed"
WITH_LAN=1 make_topology
make_pki
SITE_ROUTES=', "192.168.50.0/24"' write_server_config "$WORK/site.toml"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'

start_server "$WORK/site.toml"
wait_for 10 "server tunnel interface" in_site ip link show pst0
start_client "$WORK/laptop.toml" laptop
wait_for 15 "laptop tunnel address" bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
addr=$(tunnel_address "$NS_LAPTOP" pst0)
log "laptop got $addr"
[ "$addr" != "10.77.0.1" ] || fail "laptop was given the server's own address"

in_laptop ping -c 3 -i 0.2 -W 2 10.77.0.1 >"$WORK/ping.log" || fail "ping to the server's tunnel address"
log "ping 10.77.0.1 ok"
in_laptop ping -c 3 -i 0.2 -W 2 192.168.50.2 >>"$WORK/ping.log" || fail "ping to the LAN host behind the site"
log "ping 192.168.50.2 (site LAN, forwarded) ok"
in_laptop ip route show | grep -q "192.168.50.0/24 dev pst0" || fail "pushed route not installed"

MARKER="POSTERN-SECRET-MARKER-$$"
in_site tcpdump -i "$VETH_SITE" -w "$WORK/veth.pcap" -U -s 0 udp or tcp >"$WORK/tcpdump.log" 2>&1 &
PIDS+=($!)
wait_for 5 "tcpdump" grep -q "listening" "$WORK/tcpdump.log"
in_site python3 "$(dirname "$0")/transfer.py" recv 5001 >"$WORK/recv.out" 2>&1 &
RECV_PID=$!
PIDS+=($RECV_PID)
wait_for 5 "receiver" grep -q listening "$WORK/recv.out"
in_laptop python3 "$(dirname "$0")/transfer.py" send 10.77.0.1 5001 50 "$MARKER" >"$WORK/send.out" || fail "transfer"
wait "$RECV_PID" || true
sent=$(cat "$WORK/send.out"); received=$(tail -n 1 "$WORK/recv.out")
log "sent $sent"
log "recv $received"
[ "$sent" = "$received" ] || fail "SHA-256 mismatch: sent $sent received $received"
sleep 0.5
kill "${PIDS[-1]}" 2>/dev/null || true   # tcpdump is the last started before the receiver
pkill -f "tcpdump -i $VETH_SITE" 2>/dev/null || true
sleep 0.5

python3 - "$WORK/veth.pcap" "$MARKER" <<'PY' || fail "capture check"
import struct, sys
data = open(sys.argv[1], "rb").read()
marker = sys.argv[2].encode()
magic = struct.unpack("<I", data[:4])[0]
assert magic in (0xa1b2c3d4, 0xa1b23c4d), "not a pcap file"
off, gre, total = 24, 0, 0
while off + 16 <= len(data):
    incl = struct.unpack("<I", data[off + 8:off + 12])[0]
    pkt = data[off + 16:off + 16 + incl]
    off += 16 + incl
    total += 1
    if marker in pkt:
        sys.exit(f"marker found in captured packet {total}")
    ip = pkt[14:]
    if len(ip) > 28 and ip[9] == 17:
        ihl = (ip[0] & 15) * 4
        udp = ip[ihl:]
        if udp[8:12] == b"\x30\x00\x88\x0b":
            gre += 1
print(f"capture: {total} packets, {gre} GRE-in-UDP, marker absent")
if gre < 1000:
    sys.exit(f"expected the transfer as GRE-in-UDP datagrams, saw only {gre}")
PY
log "capture: GRE-in-UDP only, no marker"
log "PASS"
