#!/usr/bin/env bash
# End to end through real namespaces and TUN devices: the laptop gets an address from the pool,
# pings the server's tunnel address and a LAN host behind the site, moves 50 MB over TCP with a
# matching SHA-256, and a libpcap capture of the veth meanwhile holds GRE-in-UDP datagrams and
# none of the marker string sent inside the tunnel. Then a burst of inner UDP datagrams arrives
# intact and in order, merged into fewer TUN writes on the server (UDP GRO through TUN_F_USO),
# and each TUN carries the configured queue length (`tun_queue_length`).
source "$(dirname "$0")/lib.sh"
require_root
command -v tcpdump >/dev/null || skip "tcpdump is not installed"
WITH_LAN=1 make_topology
make_pki
SITE_ROUTES=', "192.168.50.0/24"' write_server_config "$WORK/site.toml" 'tun_queue_length = 2000'
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

# Queue lengths: the server's from its config, the client's default.
ip -n "$NS_SITE" link show pst0 | grep -q "qlen 2000" || fail "server TUN: $(ip -n "$NS_SITE" link show pst0 | head -1)"
ip -n "$NS_LAPTOP" link show pst0 | grep -q "qlen 1000" || fail "client TUN: $(ip -n "$NS_LAPTOP" link show pst0 | head -1)"
log "tun_queue_length: server 2000, client 1000 (default)"

# Inner UDP: 3000 datagrams of 1372 bytes (a 1400-byte packet each), every one carrying its
# sequence number and the SHA-256 of its body, sent 20 at a time with UDP_SEGMENT as a QUIC
# stack sends: the laptop's kernel hands each send to the TUN whole (USO), the client splits
# it, and the server merges the datagrams back for its TUN. That TUN counts one received
# packet per write, so far fewer writes than datagrams shows the merging.
rx_writes() { cat "/proc/$(postern_pid "$NS_SITE")/net/dev" | awk '$1 == "pst0:" { print $3 }'; }
writes_before=$(rx_writes)
in_site python3 - >"$WORK/udp-recv.out" 2>&1 <<'PY' &
import hashlib, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("10.77.0.1", 5002))
s.settimeout(5)
print("listening", flush=True)
got, last, bad, reordered = 0, -1, 0, 0
try:
    while got < 3000:
        data = s.recv(2048)
        seq, digest, body = struct.unpack("!I", data[:4])[0], data[4:36], data[36:]
        if len(data) != 1372 or hashlib.sha256(body).digest() != digest:
            bad += 1
        if seq <= last:
            reordered += 1
        last = seq
        got += 1
except socket.timeout:
    pass
print(f"received {got} bad {bad} reordered {reordered}", flush=True)
PY
UDP_RECV=$!
PIDS+=($UDP_RECV)
wait_for 5 "UDP receiver" grep -q listening "$WORK/udp-recv.out"
in_laptop python3 - <<'PY' || fail "UDP sender"
import hashlib, socket, struct, time
UDP_SEGMENT = 103  # linux/udp.h
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_UDP, UDP_SEGMENT, 1372)
def datagram(seq):
    body = bytes((seq + i) & 0xff for i in range(1372 - 36))
    return struct.pack("!I", seq) + hashlib.sha256(body).digest() + body
for first in range(0, 3000, 20):
    s.sendto(b"".join(datagram(seq) for seq in range(first, first + 20)), ("10.77.0.1", 5002))
    time.sleep(0.002)  # the path's queues are not what is tested here
PY
wait "$UDP_RECV" || true
result=$(tail -n 1 "$WORK/udp-recv.out")
writes=$(( $(rx_writes) - writes_before ))
log "inner UDP: $result, server TUN writes $writes"
read -r _ got _ bad _ reordered <<<"$result"
[ "$bad" = 0 ] && [ "$reordered" = 0 ] || fail "inner UDP damaged or reordered: $result"
[ "$got" -ge 2970 ] || fail "inner UDP: more than 1 % lost: $result"
[ "$writes" -lt $((got / 4)) ] || fail "inner UDP was not coalesced: $writes TUN writes for $got datagrams"
log "PASS"
