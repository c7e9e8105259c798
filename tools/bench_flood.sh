#!/usr/bin/env bash
# Flood benchmark (not a test, issue 10): an established session's single-stream TCP throughput
# (iperf3 through the tunnel) alone, during a pre-auth flood of the control port, and during a
# garbage-UDP flood of the data port, in the same run, and the ratio of each to the first
# (target >= 0.8). Floods come from postern_flood (tests/netns/flood.cpp, built with the tests),
# bounded, inside this script's own namespaces. The flood generators run on the same machine and
# take CPU too, so the ratio is a lower bound of what a server behind a real link would see. For
# each run it also prints where the CPU went: the server's threads (by name, percent of one core
# over the measurement), and the flood generator's, so a low ratio can be told apart from a busy
# server.
#   tools/bench_flood.sh [SECONDS] [UDP_PPS] [CONNECT_RATE]
#       (root; default 10 s, 200000 datagrams/s, 10000 new connections/s: the pre-auth flood is
#       held to a fixed rate so runs, and builds, are compared at the same load)
#   BENCH_PERF=1 tools/bench_flood.sh           also `perf record` the server during the pre-auth
#                                               flood and print its hottest symbols
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}
pps=${2:-200000}
connect_rate=${3:-10000}
POSTERN_BIN=${POSTERN_BIN:-$here/build/release/tools/postern/postern}
[ -x "$POSTERN_BIN" ] || { echo "build first (cmake --preset release && cmake --build --preset release) or set POSTERN_BIN" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
export POSTERN_BIN
TEST_WATCHDOG=${TEST_WATCHDOG:-600}
source "$here/tests/netns/lib.sh"
POSTERN_FLOOD=${POSTERN_FLOOD:-$here/build/release/tests/netns/postern_flood}
[ -x "$POSTERN_FLOOD" ] || { echo "build the tests first (postern_flood) or set POSTERN_FLOOD" >&2; exit 1; }
require_root
make_topology
make_pki
for i in $(seq 100 139); do ip -n "$NS_LAPTOP" addr add "10.200.0.$i/24" dev "$VETH_LAPTOP"; done
write_server_config "$WORK/site.toml"
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
in_site iperf3 -s -D >/dev/null 2>&1
sleep 0.5
server_pid=$(postern_pid "$NS_SITE")
# CPU ticks per thread: "PID:NAME/TID TICKS" lines for every task of the given processes and,
# after the first (the server), of their descendants (the generator runs under a subshell).
ticks() {
  python3 - "$@" <<'PY'
import glob, sys
def descendants(pid):
    out = [pid]
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = open(stat).read()
        except OSError:
            continue
        if text[text.rindex(")") + 2:].split()[1] == pid:
            out += descendants(stat.split("/")[2])
    return out
pids = sys.argv[1:2] + [p for g in sys.argv[2:] for p in descendants(g)]
for pid in pids:
    for stat in glob.glob(f"/proc/{pid}/task/*/stat"):
        try:
            text = open(stat).read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")].replace(" ", "_")
        fields = text[text.rindex(")") + 2:].split()  # from field 3 (state) on
        tid = stat.split("/")[4]
        print(f"{pid}:{name}/{tid} {int(fields[11]) + int(fields[12])}")  # utime + stime
PY
}
measure() {  # NAME [GENERATOR_PID] -> bits/s through the tunnel; CPU per thread into $WORK/cpu-NAME
  local name=$1 gen=${2:-}
  ticks "$server_pid" $gen >"$WORK/ticks-$name.before"  # descendants found now stay counted
  local start=$SECONDS
  in_laptop iperf3 -c 10.77.0.1 -t "$seconds" -J 2>/dev/null |
    python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))'
  ticks "$server_pid" $gen >"$WORK/ticks-$name.after"
  python3 - "$WORK/ticks-$name.before" "$WORK/ticks-$name.after" "$server_pid" "$((SECONDS - start))" \
    "$(getconf CLK_TCK)" >"$WORK/cpu-$name" <<'PY'
import collections, sys
def read(path):
    out = collections.Counter()
    for line in open(path):
        key, value = line.rsplit(" ", 1)
        out[key] += int(value)
    return out
before, after = read(sys.argv[1]), read(sys.argv[2])
server, elapsed, hz = sys.argv[3], max(int(sys.argv[4]), 1), int(sys.argv[5])
used = {k: (after[k] - before.get(k, 0)) * 100 / (elapsed * hz) for k in after}
mine = {k: v for k, v in used.items() if k.startswith(server + ":")}
parts = [f"{k.split(':', 1)[1]} {v:.0f}%" for k, v in sorted(mine.items(), key=lambda kv: -kv[1]) if v >= 1]
gen = sum(v for k, v in used.items() if k not in mine)
print(f"server {sum(mine.values()):.0f}% of a core (threads: {', '.join(parts) or 'idle'})" +
      (f"; flood generator {gen:.0f}%" if gen else ""))
PY
}
alone=$(measure alone)
# Each flood outlasts its measurement (1 s before it, iperf3's own start and end after it), so
# its processes are still there for the second CPU snapshot.
in_laptop "$POSTERN_FLOOD" connect-flood 10.200.0.2:1723 --sources 10.200.0.100-139 --count 200000 \
  --concurrent 1000 --rate "$connect_rate" --hold $((seconds + 4)) >"$WORK/connect-flood.out" 2>&1 &
flood=$!
sleep 1
if [ "${BENCH_PERF:-0}" = 1 ]; then
  perf record -F 499 -g -o "$WORK/perf.data" -p "$server_pid" -- sleep "$seconds" >/dev/null 2>&1 &
  perf_pid=$!
fi
preauth=$(measure preauth "$flood")
if [ "${BENCH_PERF:-0}" = 1 ]; then
  wait "$perf_pid" || true
  perf report -i "$WORK/perf.data" --no-children --sort comm,dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -n 25 >"$WORK/perf-preauth.txt" || true
  # The main thread alone (the io_context that accepts and refuses): percentages of its samples.
  perf report -i "$WORK/perf.data" --tid "$server_pid" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -n 25 >"$WORK/perf-preauth-io.txt" || true
fi
wait "$flood" || true
in_laptop "$POSTERN_FLOOD" udp-flood 10.200.0.2:1723 --pps "$pps" --seconds $((seconds + 4)) \
  >"$WORK/udp-flood.out" 2>&1 &
flood=$!
sleep 1
garbage=$(measure garbage "$flood")
wait "$flood" || true
"$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/status.json"
python3 - "$alone" "$preauth" "$garbage" "$WORK/connect-flood.out" "$WORK/udp-flood.out" "$WORK/status.json" \
  "$WORK/cpu-alone" "$WORK/cpu-preauth" "$WORK/cpu-garbage" <<'PY'
import json, sys
alone, preauth, garbage = (int(v) for v in sys.argv[1:4])
connect, udp = (open(f).read().strip() for f in sys.argv[4:6])
status = json.load(open(sys.argv[6]))
cpu = [open(f).read().strip() for f in sys.argv[7:10]]
dp, control = status["data_plane"], status["control"]
mbit = lambda b: f"{b / 1e6:8.1f} Mbit/s"
print(f"established session alone        {mbit(alone)}")
print(f"    {cpu[0]}")
print(f"during the pre-auth flood        {mbit(preauth)}   ratio {preauth / alone:.2f}   ({connect})")
print(f"    {cpu[1]}")
print(f"during the garbage-UDP flood     {mbit(garbage)}   ratio {garbage / alone:.2f}   ({udp})")
print(f"    {cpu[2]}")
import os
if os.path.exists(os.path.join(os.path.dirname(sys.argv[6]), "perf-preauth.txt")):
    print("server during the pre-auth flood, hottest symbols (perf, self time):")
    print(open(os.path.join(os.path.dirname(sys.argv[6]), "perf-preauth.txt")).read().rstrip())
    print("its main thread (accepts and refusals) alone:")
    print(open(os.path.join(os.path.dirname(sys.argv[6]), "perf-preauth-io.txt")).read().rstrip())
print(f"server counters: handshake_limit {control['handshake_limit']}, handshake_evicted "
      f"{control['handshake_evicted']}, rx_bad_header {dp['rx_bad_header']}, "
      f"rx_unknown_session {dp['rx_unknown_session']}")
PY
