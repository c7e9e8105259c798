#!/usr/bin/env bash
# Tunnel throughput benchmark (not a test): single-stream TCP (iperf3) through the postern tunnel
# and over the raw veth between the same two namespaces, in the same run, and their ratio.
# Machines here are noisy, so only the ratio against the same-run baseline means much.
#   tools/bench_tunnel.sh [SECONDS] [CIPHER] [RUNS]   (root; default 10 s, aes-256-gcm, 1 run)
# With RUNS > 1 the veth/tunnel pair is measured RUNS times in the same topology and the median
# ratio is printed last (see docs/performance.md).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}
cipher=${2:-aes-256-gcm}
runs=${3:-1}
POSTERN_BIN=${POSTERN_BIN:-$here/build/release/tools/postern/postern}
[ -x "$POSTERN_BIN" ] || { echo "build first (cmake --preset release && cmake --build --preset release) or set POSTERN_BIN" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
export POSTERN_BIN
TEST_WATCHDOG=${TEST_WATCHDOG:-3600}  # a benchmark may run long; the tests keep 100 s
source "$here/tests/netns/lib.sh"
require_root
make_topology
make_pki
write_server_config "$WORK/site.toml" "cipher = \"$cipher\""
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
start_server "$WORK/site.toml"
wait_for 10 "server" in_site ip link show pst0
start_client "$WORK/laptop.toml" laptop
wait_for 15 "tunnel" bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
in_site iperf3 -s -D >/dev/null 2>&1
sleep 0.5
measure() {  # measure TARGET -> bits/s
  in_laptop iperf3 -c "$1" -t "$seconds" -J 2>/dev/null |
    python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))'
}
results=()
for _ in $(seq "$runs"); do
  results+=("$(measure 10.200.0.2) $(measure 10.77.0.1)")
done
python3 - "$cipher" "${results[@]}" <<'PY'
import statistics, sys
cipher, runs = sys.argv[1], [tuple(map(int, r.split())) for r in sys.argv[2:]]
for veth, tunnel in runs:
    print(f"raw veth        : {veth / 1e9:6.2f} Gbit/s")
    print(f"postern tunnel  : {tunnel / 1e9:6.2f} Gbit/s  ({cipher}, single TCP stream)")
    print(f"ratio           : {tunnel / veth:6.3f}  (tunnel / veth, same run)")
if len(runs) > 1:
    print(f"median ratio    : {statistics.median(t / v for v, t in runs):6.3f}  over {len(runs)} runs")
PY
