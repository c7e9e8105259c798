#!/usr/bin/env bash
# `postern status` and [daemon] capture_inner end to end: server and client up in namespaces, a
# ping through the tunnel, then
#   - `postern status --json` on both status sockets: one session holding the laptop's inner
#     address, packets > 0 both ways, a recent last packet, the outer UDP endpoints;
#   - the text form names the role and the session;
#   - the sockets are 0600 root; a non-root user is refused by the file mode, and (socket made
#     0666 on purpose) by the daemon's SO_PEERCRED check; a bad request gets an error line;
#   - each daemon's capture_inner pcap is 0600, logged loudly, and holds the ICMP echo requests
#     and replies of the ping in clear;
#   - at SIGTERM a socket in a directory the run-as user cannot write (the test's, root's 0755)
#     is left and logged as such, and a socket in the daemon's runtime directory
#     (RUNTIME_DIRECTORY, as systemd's RuntimeDirectory= sets it) is removed.
source "$(dirname "$0")/lib.sh"
require_root
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
make_topology
make_pki
write_server_config "$WORK/site.toml" 'rekey_packets = 1024'
printf 'capture_inner = "%s"\n' "$WORK/site-inner.pcap" >>"$WORK/site.toml"       # [daemon] is last
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
printf 'capture_inner = "%s"\n' "$WORK/laptop-inner.pcap" >>"$WORK/laptop.toml"
touch "$WORK/site-inner.pcap" && chmod 644 "$WORK/site-inner.pcap"   # an old, too-open capture: must become 0600

up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
in_laptop ping -c 3 -i 0.2 -W 2 10.77.0.1 >"$WORK/ping.log" || fail "ping through the tunnel"
log "ping ok"

# --- JSON -------------------------------------------------------------------------------------
"$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/server.json" 2>"$WORK/status.err" \
  || fail "postern status --socket server.sock: $(cat "$WORK/status.err")"
"$POSTERN_BIN" status -c "$WORK/laptop.toml" --json >"$WORK/laptop.json" 2>"$WORK/status.err" \
  || fail "postern status -c laptop.toml: $(cat "$WORK/status.err")"
python3 - "$WORK/server.json" "$WORK/laptop.json" "$LAPTOP_ADDRESS" <<'PY' || fail "status JSON check"
import json, sys
server = json.load(open(sys.argv[1]))
laptop = json.load(open(sys.argv[2]))
inner = sys.argv[3]
def check(doc, role, outer_prefix):
    assert doc["schema"] == 1, doc["schema"]
    assert doc["role"] == role, doc["role"]
    assert doc["uptime_seconds"] > 0
    assert isinstance(doc["data_plane"], dict) and "rx_datagrams" in doc["data_plane"], doc["data_plane"]
    assert doc["data_plane"]["rx_datagrams"] > 0
    assert doc["smtp"] is None, "no [smtp] in this test"
    assert len(doc["sessions"]) == 1, doc["sessions"]
    s = doc["sessions"][0]
    assert s["inner_address"] == inner, (s["inner_address"], inner)
    assert s["rx_packets"] > 0 and s["tx_packets"] > 0, s
    assert s["rx_bytes"] >= 84 * s["rx_packets"] // 2 and s["tx_bytes"] > 0, s
    assert s["transport"] in ("udp", "tls"), s["transport"]
    assert s["outer_address"].startswith(outer_prefix), s["outer_address"]
    assert s["last_packet_seconds_ago"] is not None and 0 <= s["last_packet_seconds_ago"] < 30, s
    assert s["rekeys"] == 0 and s["last_rekey_seconds_ago"] is None, ("no rekey yet", s)
    for k in ("identity", "session_id", "rx_dropped", "tx_dropped", "transport_switches"):
        assert k in s, k
    return s
s = check(server, "server", "10.200.0.1:")
assert s["identity"] == "laptop", s["identity"]
check(laptop, "client", "10.200.0.2:1723")
print("server session:", s)
PY
log "status --json: both daemons show $LAPTOP_ADDRESS with traffic both ways"

# --- rekeys (rekey_packets = 1024): counted and timed --------------------------------------------
in_laptop ping -f -q -c 2500 -W 2 10.77.0.1 >"$WORK/flood.log" 2>&1 || fail "flood ping: $(tail -2 "$WORK/flood.log")"
for sock in server laptop; do
  "$POSTERN_BIN" status --socket "$WORK/$sock.sock" --json >"$WORK/$sock-rekeyed.json" || fail "status after rekey"
  python3 - "$WORK/$sock-rekeyed.json" <<'PY' || fail "$sock: rekey not shown in status"
import json, sys
s = json.load(open(sys.argv[1]))["sessions"][0]
assert s["rekeys"] >= 1 and s["last_rekey_seconds_ago"] is not None and s["last_rekey_seconds_ago"] < 30, s
print(sys.argv[1].rsplit("/", 1)[1], "rekeys", s["rekeys"], "last", s["last_rekey_seconds_ago"], "s ago")
PY
done

# --- text -------------------------------------------------------------------------------------
"$POSTERN_BIN" status -c "$WORK/site.toml" >"$WORK/server.txt" || fail "postern status (text)"
grep -q "^postern server (pid" "$WORK/server.txt" || fail "text status lacks its header: $(cat "$WORK/server.txt")"
grep -q "$LAPTOP_ADDRESS laptop" "$WORK/server.txt" || fail "text status lacks the session: $(cat "$WORK/server.txt")"
log "status text ok"

# --- permissions ------------------------------------------------------------------------------
for sock in server laptop; do
  [ "$(stat -c '%a %U' "$WORK/$sock.sock")" = "600 root" ] || fail "$sock.sock is $(stat -c '%a %U' "$WORK/$sock.sock"), want 600 root"
done
as_other() { setpriv --reuid=4242 --regid=4242 --clear-groups "$@"; }
if as_other "$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/other.out" 2>"$WORK/other.err"; then
  fail "a non-root user read the status: $(cat "$WORK/other.out")"
fi
grep -q "root-only" "$WORK/other.err" || fail "refusal does not say why: $(cat "$WORK/other.err")"
[ ! -s "$WORK/other.out" ] || fail "refused user still got output"
log "uid 4242 refused by the socket mode: $(cat "$WORK/other.err")"
chmod 666 "$WORK/server.sock"   # take the file mode away: the daemon's own check must hold
if as_other "$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/other.out" 2>"$WORK/other.err"; then
  fail "SO_PEERCRED check let uid 4242 read the status: $(cat "$WORK/other.out")"
fi
chmod 600 "$WORK/server.sock"
grep -q "permission denied: uid 4242" "$WORK/other.err" || fail "daemon refusal not reported: $(cat "$WORK/other.err")"
grep -q "request_refused.*uid=4242" "$WORK/server.log" || fail "daemon did not log the refusal"
log "uid 4242 refused by SO_PEERCRED: $(cat "$WORK/other.err")"
python3 - "$WORK/server.sock" <<'PY' || fail "bad request check"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"bogus\n")
reply = b""
while chunk := s.recv(4096): reply += chunk
assert reply.startswith(b"error: unknown request"), reply
PY
if "$POSTERN_BIN" status --socket "$WORK/none.sock" 2>"$WORK/none.err"; then fail "status without a daemon succeeded"; fi
grep -q "no daemon is listening" "$WORK/none.err" || fail "missing daemon not explained: $(cat "$WORK/none.err")"
log "bad request and missing daemon answered in words"

# --- capture_inner ----------------------------------------------------------------------------
grep -q "capture_inner_on path=$WORK/site-inner.pcap" "$WORK/server.log" \
  || fail "server did not warn about capture_inner"
grep -q "warn" <(grep "capture_inner_on path=$WORK/laptop-inner.pcap" "$WORK/laptop.log") || fail "client did not warn about capture_inner"
for side in site laptop; do
  [ "$(stat -c '%a' "$WORK/$side-inner.pcap")" = 600 ] || fail "$side-inner.pcap mode $(stat -c '%a' "$WORK/$side-inner.pcap")"
  python3 - "$WORK/$side-inner.pcap" "$LAPTOP_ADDRESS" <<'PY' || fail "$side capture check"
import socket, struct, sys
data = open(sys.argv[1], "rb").read()
laptop = socket.inet_aton(sys.argv[2]); server = socket.inet_aton("10.77.0.1")
magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
assert magic == 0xa1b2c3d4, hex(magic)
assert linktype in (12, 101), f"link type {linktype}, want raw IP"
off, requests, replies = 24, 0, 0
while off + 16 <= len(data):
    incl = struct.unpack("<I", data[off + 8:off + 12])[0]
    ip = data[off + 16:off + 16 + incl]
    off += 16 + incl
    if len(ip) >= 28 and ip[0] >> 4 == 4 and ip[9] == 1:
        ihl = (ip[0] & 15) * 4
        if ip[12:16] == laptop and ip[16:20] == server and ip[ihl] == 8: requests += 1
        if ip[12:16] == server and ip[16:20] == laptop and ip[ihl] == 0: replies += 1
print(f"{sys.argv[1]}: {requests} echo requests, {replies} echo replies")
assert requests >= 3 and replies >= 3
PY
done
log "capture_inner: both pcaps 0600 with the ICMP echoes in clear"

# --- the socket at a clean exit --------------------------------------------------------------
stop_server() {
  kill -TERM "$SERVER_PID"
  local status=0
  wait "$SERVER_PID" || status=$?
  [ "$status" -eq 0 ] || fail "server exited $status on SIGTERM"
}
stop_server
[ -S "$WORK/server.sock" ] || fail "server.sock vanished although nobody may not write $WORK"
grep -q "status socket_left_in_place" "$WORK/server.log" || fail "the left socket was not logged"
mkdir "$WORK/run"
sed "s|^status_socket = .*|status_socket = \"$WORK/run/server.sock\"|" "$WORK/site.toml" >"$WORK/site-run.toml"
RUNTIME_DIRECTORY="$WORK/run" start_server "$WORK/site-run.toml"
wait_for 10 "server in its runtime directory" grep -q "privileges_dropped" "$WORK/server.log"
[ -S "$WORK/run/server.sock" ] || fail "no socket in the runtime directory"
[ "$(stat -c %U "$WORK/run")" = nobody ] || fail "runtime directory owned by $(stat -c %U "$WORK/run"), want the run-as user"
stop_server
[ -e "$WORK/run/server.sock" ] && fail "the socket in the runtime directory was left after SIGTERM"
log "SIGTERM: socket left (and logged) where the run-as user cannot write, removed from the runtime directory"
log "PASS"
