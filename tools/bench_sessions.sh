#!/usr/bin/env bash
# Capacity of one postern server (not a test; the figures are in docs/scaling.md).
#   tools/bench_sessions.sh sessions [COUNTS...]   (default 100 500 1000 2000)
#     For each count: a fresh server (pool 10.77.0.0/16, certificate logins) in the site
#     namespace; tools/load_sessions in the laptop namespace brings up that many sessions (each
#     its own certificate, TLS 1.3, HELLO/AUTH/LCP/IPCP/DATA_CHANNEL) CONCURRENCY at a time and
#     holds them; the server's VmRSS, open descriptors and CPU (while the sessions idle, LCP
#     echoes every KEEPALIVE s) are sampled from /proc, and its CPU time during the ramp divided by
#     the sessions set up (srv_cpu_ms: the server's cost of one login, whatever the load tool,
#     sharing the cores, allowed). Prints one table row per count.
#   tools/bench_sessions.sh passwords [N]   (default 100)
#     The same with N password users (auth = "password", scrypt ln=15 r=8 p=1 on the server's one
#     verification thread) instead of certificates, 8 at a time (one source may have at most 10
#     password attempts in flight, auth/throttle.hpp): password logins per second.
#   tools/bench_sessions.sh limits
#     Where the first limits bite, each on purpose small: 300 sessions against a /24 pool (253
#     addresses), and 1100 sessions against a server whose descriptor limit is 1024 (prlimit).
#   tools/bench_sessions.sh throughput [CLIENTS] [SECONDS]   (default 10 clients, 10 s)
#     CLIENTS real `postern client`s, each in its own namespace with its own veth to the site,
#     each running one iperf3 TCP stream to its own iperf3 server on the site's tunnel address at
#     the same time; then the same streams over the raw veths. Prints the sums and the ratio.
# Environment: CONCURRENCY (64), HOLD (15 s), KEEPALIVE (10 s), POSTERN_BIN, LOAD_BIN. Root.
# Everything runs in the script's own namespaces (tests/netns/lib.sh), removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-sessions}
[ $# -gt 0 ] && shift
POSTERN_BIN=${POSTERN_BIN:-$here/build/release/tools/postern/postern}
LOAD_BIN=${LOAD_BIN:-$here/build/release/tools/load_sessions/load_sessions}
CONCURRENCY=${CONCURRENCY:-64}
HOLD=${HOLD:-15}
KEEPALIVE=${KEEPALIVE:-10}
[ -x "$POSTERN_BIN" ] || { echo "build first (cmake --build --preset release) or set POSTERN_BIN" >&2; exit 1; }
export POSTERN_BIN
TEST_WATCHDOG=${TEST_WATCHDOG:-3600}  # a benchmark may run long; the tests keep 100 s
source "$here/tests/netns/lib.sh"
require_root
make_topology
make_pki

# bench_server_config FILE [AUTH_LINES...]: the site server for the load (a /16 pool: 65,533
# client addresses); certificate logins unless AUTH_LINES say otherwise.
bench_server_config() {
  local file=$1; shift
  local auth=('auth = "certificate"')
  [ $# -gt 0 ] && auth=("$@")
  cat >"$file" <<CONF
[tunnel]
listen = "10.200.0.2:1723"
certificate = "pki/server.pem"
private_key = "pki/server.key"
client_ca = "pki/ca.pem"
$(printf '%s\n' "${auth[@]}")
pool = "10.77.0.0/16"
routes = ["10.77.0.0/16"]
interface = "pst0"
# One load process is one source address: let all of its setups in (default 16 per source).
max_pending_handshakes = 1024
max_pending_handshakes_per_source = 1024

[daemon]
status_socket = "$WORK/server.sock"
log_level = "warning"
CONF
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_sessions [COUNTS...]; LOAD_EXTRA: more load_sessions options (--password-file)
run_sessions() {
  [ -x "$LOAD_BIN" ] || { echo "build tools/load_sessions first or set LOAD_BIN" >&2; exit 1; }
  local counts=("$@")
  [ ${#counts[@]} -gt 0 ] || counts=(100 500 1000 2000)
  [ -f "$WORK/site.toml" ] || bench_server_config "$WORK/site.toml"
  local hz rows=()
  hz=$(getconf CLK_TCK)
  for n in "${counts[@]}"; do
    ip netns exec "$NS_SITE" ${SERVER_WRAP:-} "$POSTERN_BIN" server -c "$WORK/site.toml" >"$WORK/server.log" 2>&1 &
    PIDS+=($!)
    SERVER_PID=$!
    wait_for 10 "server" in_site ip link show pst0
    sleep 1
    local pid=$SERVER_PID rss0 fd0
    rss0=$(rss_kb "$pid"); fd0=$(fd_count "$pid")
    local r0 r1
    r0=$(cpu_ticks "$pid")
    in_laptop "$LOAD_BIN" --server 10.200.0.2:1723 --server-name 10.200.0.2 --pki "$WORK/pki" --sessions "$n" \
      --concurrency "$CONCURRENCY" --hold "$HOLD" --keepalive "$KEEPALIVE" ${LOAD_EXTRA:-} >"$WORK/load-$n.out" 2>&1 &
    local load=$!
    PIDS+=($load)
    wait_for 900 "the $n sessions to be set up" grep -q '^holding' "$WORK/load-$n.out"
    r1=$(cpu_ticks "$pid")
    sleep 2
    local rss1 fd1 t0 t1 sessions
    rss1=$(rss_kb "$pid"); fd1=$(fd_count "$pid")
    t0=$(cpu_ticks "$pid"); sleep 5; t1=$(cpu_ticks "$pid")
    sessions=$("$POSTERN_BIN" status --json --socket "$WORK/server.sock" |
      python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sessions"]))')
    wait "$load" || true
    local ramp hold
    ramp=$(grep '^ramp' "$WORK/load-$n.out"); hold=$(grep '^hold ' "$WORK/load-$n.out" || true)
    echo "# N=$n: $ramp" >&2
    echo "#        $hold" >&2
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rows+=("$(python3 - "$n" "$rss0" "$rss1" "$fd0" "$fd1" "$t0" "$t1" "$hz" "$sessions" "$r0" "$r1" "$ramp" <<'PY'
import sys
n, rss0, rss1, fd0, fd1, t0, t1, hz, sessions, r0, r1 = map(int, sys.argv[1:12])
ramp = dict(kv.split("=", 1) for kv in sys.argv[12].split()[1:] if "=" in kv and not kv.startswith("reason"))
up = max(1, int(ramp["established"]))
per = (rss1 - rss0) / up
cpu = (t1 - t0) / hz / 5 * 100
ms_per_login = (r1 - r0) / hz * 1000 / up  # server CPU (all its threads) per session set up
print(f"{n:>6} {ramp['established']:>6} {ramp['failed']:>6} {sessions:>8} {ramp['handshakes_per_s']:>8} "
      f"{ms_per_login:>9.2f} {ramp['setup_ms_p50']:>8} {ramp['setup_ms_p99']:>8} {rss0 / 1024:>8.1f} {rss1 / 1024:>8.1f} "
      f"{per:>8.1f} {fd0:>5} {fd1:>6} {cpu:>7.1f}")
PY
)")
  done
  printf '%6s %6s %6s %8s %8s %9s %8s %8s %8s %8s %8s %5s %6s %7s\n' N up failed srv_sess hs/s srv_cpu_ms p50_ms \
    p99_ms rss0_MiB rssN_MiB KiB/sess fd0 fdN idle_cpu%
  printf '%s\n' "${rows[@]}"
}

run_throughput() {
  local clients=${1:-10} seconds=${2:-10}
  command -v iperf3 >/dev/null || { echo "needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
  [ "$clients" -le 50 ] || { echo "at most 50 clients" >&2; exit 1; }
  write_server_config "$WORK/site.toml"
  start_server "$WORK/site.toml"
  wait_for 10 "server" in_site ip link show pst0
  local i ns
  for i in $(seq 1 "$clients"); do
    ns="$ID-c$i"
    add_ns "$ns"
    ip link add "${ID}x$i" type veth peer name "${ID}y$i"
    ip link set "${ID}x$i" netns "$ns"
    ip link set "${ID}y$i" netns "$NS_SITE"
    ip -n "$ns" addr add "10.210.$i.1/24" dev "${ID}x$i"
    ip -n "$NS_SITE" addr add "10.210.$i.2/24" dev "${ID}y$i"
    ip -n "$ns" link set "${ID}x$i" up
    ip -n "$NS_SITE" link set "${ID}y$i" up
    ip -n "$ns" route add 10.200.0.0/24 via "10.210.$i.2"
    "$POSTERN_BIN" pki issue "$WORK/pki" "client$i" >/dev/null 2>&1
    write_client_config "$WORK/client$i.toml" "certificate = \"pki/client$i.pem\"" "private_key = \"pki/client$i.key\""
    start_client "$WORK/client$i.toml" "client$i" "$ns"
    in_site iperf3 -s -D -p $((5200 + i)) >/dev/null 2>&1
  done
  for i in $(seq 1 "$clients"); do
    wait_for 30 "client $i" bash -c "ip -n $ID-c$i -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
  done
  sleep 1
  # parallel TARGET_OF_I: one stream per client at once; prints the sum of received bits/s
  parallel() {
    local i pids=()
    for i in $(seq 1 "$clients"); do
      ip netns exec "$ID-c$i" iperf3 -c "$(eval "echo $1")" -p $((5200 + i)) -t "$seconds" -J >"$WORK/iperf-$i.json" 2>&1 &
      pids+=($!)
    done
    wait "${pids[@]}" || true
    python3 - "$WORK" "$clients" <<'PY'
import json, sys
total, ok = 0, 0
for i in range(1, int(sys.argv[2]) + 1):
    try:
        total += json.load(open(f"{sys.argv[1]}/iperf-{i}.json"))["end"]["sum_received"]["bits_per_second"]
        ok += 1
    except Exception:
        pass
print(int(total), ok)
PY
  }
  local tunnel veth c0 c1
  c0=$(cpu_ticks "$SERVER_PID")
  tunnel=$(parallel '10.77.0.1')
  c1=$(cpu_ticks "$SERVER_PID")
  veth=$(parallel '10.210.$i.2')
  python3 - "$clients" "$seconds" $tunnel $veth "$c0" "$c1" "$(getconf CLK_TCK)" <<'PY'
import sys
n, s, t, tok, v, vok, c0, c1, hz = map(int, sys.argv[1:])
print(f"{n} clients x 1 TCP stream, {s} s each, all at once ({tok} and {vok} streams completed):")
print(f"  through the tunnel: {t / 1e9:.2f} Gbit/s aggregate ({t / n / 1e6:.0f} Mbit/s per client), "
      f"server CPU {(c1 - c0) / hz / s * 100:.0f}% of one core")
print(f"  over the raw veths: {v / 1e9:.2f} Gbit/s aggregate")
print(f"  ratio tunnel/veth:  {t / v:.2f}" if v else "  ratio: n/a")
PY
}

run_limits() {
  echo "## pool: a /24 (253 client addresses), 300 sessions" >&2
  bench_server_config "$WORK/site.toml"
  sed -i 's|^pool = .*|pool = "10.77.0.0/24"|' "$WORK/site.toml"
  HOLD=10 run_sessions 300
  grep -c 'pool exhausted' "$WORK/server.log" | sed 's/^/server log lines "pool exhausted": /' >&2 || true
  echo "## descriptors: the server's hard limit 1024, 1100 sessions" >&2
  bench_server_config "$WORK/site.toml"
  SERVER_WRAP="prlimit --nofile=1024:1024" HOLD=10 run_sessions 1100
  grep -Eo 'accept[^"]*"[^"]*"' "$WORK/server.log" | sort | uniq -c | head -3 >&2 || true
}

run_passwords() {
  local n=${1:-100} i
  printf 'load password\n' >"$WORK/load.pass"
  chmod 600 "$WORK/load.pass"
  for i in $(seq 0 $((n - 1))); do
    printf 'load password\n' | "$POSTERN_BIN" user add "$WORK/users.db" "$(printf 'load-%05d' "$i")" >/dev/null
  done
  bench_server_config "$WORK/site.toml" 'auth = "password"' 'users = "users.db"'
  # One load process is one source: fewer than the throttle's 10 attempts in flight per source.
  CONCURRENCY=8 LOAD_EXTRA="--password-file $WORK/load.pass" run_sessions "$n"
}

case "$mode" in
  sessions) run_sessions "$@" ;;
  passwords) run_passwords "$@" ;;
  limits) run_limits ;;
  throughput) run_throughput "$@" ;;
  *) echo "usage: $0 sessions [COUNTS...] | passwords [N] | limits | throughput [CLIENTS] [SECONDS]" >&2; exit 2 ;;
esac
