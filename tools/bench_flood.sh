#!/usr/bin/env bash
# Flood benchmark (not a test, issue 10): an established session's single-stream TCP throughput
# (iperf3 through the tunnel) alone, during a pre-auth flood of the control port, and during a
# garbage-UDP flood of the data port, in the same run, and the ratio of each to the first
# (target >= 0.8). Floods come from tests/netns/hostile.py, bounded, inside this script's own
# namespaces. The flood generators run on the same machine and take CPU too, so the ratio is a
# lower bound of what a server behind a real link would see.
#   tools/bench_flood.sh [SECONDS] [UDP_PPS]   (root; default 10 s, 200000 datagrams/s)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}
pps=${2:-200000}
POSTERN_BIN=${POSTERN_BIN:-$here/build/release/tools/postern/postern}
[ -x "$POSTERN_BIN" ] || { echo "build first (cmake --preset release && cmake --build --preset release) or set POSTERN_BIN" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
export POSTERN_BIN
TEST_WATCHDOG=${TEST_WATCHDOG:-600}
source "$here/tests/netns/lib.sh"
HOSTILE="$here/tests/netns/hostile.py"
require_root
make_topology
make_pki
for i in $(seq 100 139); do ip -n "$NS_LAPTOP" addr add "10.200.0.$i/24" dev "$VETH_LAPTOP"; done
write_server_config "$WORK/site.toml"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
in_site iperf3 -s -D >/dev/null 2>&1
sleep 0.5
measure() {  # -> bits/s through the tunnel
  in_laptop iperf3 -c 10.77.0.1 -t "$seconds" -J 2>/dev/null |
    python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))'
}
alone=$(measure)
in_laptop python3 "$HOSTILE" connect-flood 10.200.0.2:1723 --sources 10.200.0.100-139 --count 200000 \
  --concurrent 1000 --hold $((seconds + 2)) >"$WORK/connect-flood.out" 2>&1 &
flood=$!
sleep 1
preauth=$(measure)
wait "$flood" || true
in_laptop python3 "$HOSTILE" udp-flood 10.200.0.2:1723 --pps "$pps" --seconds $((seconds + 2)) \
  >"$WORK/udp-flood.out" 2>&1 &
flood=$!
sleep 1
garbage=$(measure)
wait "$flood" || true
"$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/status.json"
python3 - "$alone" "$preauth" "$garbage" "$WORK/connect-flood.out" "$WORK/udp-flood.out" "$WORK/status.json" <<'PY'
import json, sys
alone, preauth, garbage = (int(v) for v in sys.argv[1:4])
connect, udp = (open(f).read().strip() for f in sys.argv[4:6])
status = json.load(open(sys.argv[6]))
dp, control = status["data_plane"], status["control"]
mbit = lambda b: f"{b / 1e6:8.1f} Mbit/s"
print(f"established session alone        {mbit(alone)}")
print(f"during the pre-auth flood        {mbit(preauth)}   ratio {preauth / alone:.2f}   ({connect})")
print(f"during the garbage-UDP flood     {mbit(garbage)}   ratio {garbage / alone:.2f}   ({udp})")
print(f"server counters: handshake_limit {control['handshake_limit']}, handshake_evicted "
      f"{control['handshake_evicted']}, rx_bad_header {dp['rx_bad_header']}, "
      f"rx_unknown_session {dp['rx_unknown_session']}")
PY
