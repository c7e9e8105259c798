#!/usr/bin/env bash
# Tunnel benchmark (not a test): the raw veth, OpenVPN and postern between the same two
# namespaces, measured in the same run, each figure also printed as a ratio.
#   tools/bench_tunnel.sh [SECONDS] [CIPHER] [RUNS]   (root; default 10 s, aes-256-gcm, 1 run)
# Per path and run: one iperf3 TCP stream laptop -> site (Gbit/s), with a ping running beside it
# (loaded RTT) and the daemons' CPU time read from /proc (CPU-s per Gbit, both ends); inner UDP
# of 1400-byte packets at the highest rate with <= 0.1 % loss (pps, found by bisection over
# 2-second iperf3 runs, log scale); the idle ping RTT (median of 40). With RUNS > 1 each figure is the
# median over the runs. Machines here are noisy: compare the ratios of one run, not numbers of
# different runs (see docs/performance.md).
# OpenVPN is Debian's `openvpn` (apt-get install openvpn) in userspace (--disable-dco), UDP,
# the same cipher, certificates from the same test CA, tun MTU 1400 like postern's; without it
# (or with BENCH_OPENVPN=0) its column is left out.
# BENCH_FAMILY=6: the underlay (the veth between the namespaces) carries IPv6 only, and every
# path runs over it: the raw veth (iperf3 to the site's IPv6 address), OpenVPN over udp6, postern
# with its server and client on IPv6 literals (tests/netns/lib_ipv6.sh). The inner traffic stays
# IPv4. Default 4: the IPv4 underlay.
# BENCH_ONLY=idle,udp (any of tcp, udp, idle, comma-separated): measure only those rows (the
# others print as —), e.g. BENCH_ONLY=idle RUNS=5 for a quick latency comparison.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-10}
cipher=${2:-aes-256-gcm}
runs=${3:-1}
POSTERN_BIN=${POSTERN_BIN:-$here/build/release/tools/postern/postern}
[ -x "$POSTERN_BIN" ] || { echo "build first (cmake --preset release && cmake --build --preset release) or set POSTERN_BIN" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
with_openvpn=${BENCH_OPENVPN:-1}
if [ "$with_openvpn" = 1 ] && ! command -v openvpn >/dev/null; then
  echo "openvpn is not installed (apt-get install openvpn): measuring veth and postern only" >&2
  with_openvpn=0
fi
export POSTERN_BIN
TEST_WATCHDOG=${TEST_WATCHDOG:-7200}  # a benchmark may run long; the tests keep 100 s
source "$here/tests/netns/lib.sh"
source "$here/tests/netns/lib_ipv6.sh"
require_root
family=${BENCH_FAMILY:-4}
if [ "$family" = 6 ]; then
  make_topology_v6
  make_pki_v6
  write_server_config "$WORK/site.toml" "cipher = \"$cipher\""
  set_listen "$WORK/site.toml" "[$SITE6]:1723"
  CLIENT_SERVER="[$SITE6]:1723" write_client_config "$WORK/laptop.toml" \
    'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
  site_outer=$SITE6 ovpn_proto=udp6
else
  make_topology
  make_pki
  write_server_config "$WORK/site.toml" "cipher = \"$cipher\""
  write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
  site_outer=10.200.0.2 ovpn_proto=udp4
fi
start_server "$WORK/site.toml"
wait_for 10 "server" in_site ip link show pst0
start_client "$WORK/laptop.toml" laptop
wait_for 15 "tunnel" bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
wait_for 10 "a ping through the tunnel" in_laptop ping -c 1 -W 1 10.77.0.1
postern_pids="$(postern_pid "$NS_SITE") $(postern_pid "$NS_LAPTOP")"

openvpn_pids=""
if [ "$with_openvpn" = 1 ]; then
  ovpn_cipher=$(printf '%s' "$cipher" | tr '[:lower:]' '[:upper:]')
  common=(--dev ovpn0 --dev-type tun --proto "$ovpn_proto" --tun-mtu 1400 --disable-dco
          --data-ciphers "$ovpn_cipher" --ca "$WORK/pki/ca.pem" --verb 1)
  in_site openvpn "${common[@]}" --local "$site_outer" --port 1194 --topology subnet \
    --server 10.88.0.0 255.255.255.0 --dh none --cert "$WORK/pki/server.pem" \
    --key "$WORK/pki/server.key" --writepid "$WORK/ovpn-site.pid" >"$WORK/ovpn-site.log" 2>&1 &
  PIDS+=($!)
  in_laptop openvpn "${common[@]}" --client --nobind --remote "$site_outer" 1194 \
    --cert "$WORK/pki/laptop.pem" --key "$WORK/pki/laptop.key" \
    --writepid "$WORK/ovpn-laptop.pid" >"$WORK/ovpn-laptop.log" 2>&1 &
  PIDS+=($!)
  wait_for 30 "the OpenVPN tunnel" in_laptop ping -c 1 -W 1 10.88.0.1
  openvpn_pids="$(cat "$WORK/ovpn-site.pid") $(cat "$WORK/ovpn-laptop.pid")"
fi

in_site iperf3 -s -D >/dev/null 2>&1
sleep 0.5
python3 - "$NS_LAPTOP" "$seconds" "$cipher" "$runs" "$postern_pids" "$openvpn_pids" "$site_outer" "$family" \
  "${BENCH_ONLY:-tcp,udp,idle}" <<'PY'
import json, os, re, statistics, subprocess, sys, threading

ns, seconds, cipher, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
site_outer, family = sys.argv[7], sys.argv[8]
only = set(sys.argv[9].split(","))
if not only <= {"tcp", "udp", "idle"}:
    sys.exit(f"BENCH_ONLY: expected some of tcp,udp,idle, got {sys.argv[9]}")
paths = [("veth", site_outer, []), ("postern", "10.77.0.1", sys.argv[5].split())]
if sys.argv[6].strip():
    paths.insert(1, ("OpenVPN", "10.88.0.1", sys.argv[6].split()))
TICK = os.sysconf("SC_CLK_TCK")
UDP_PAYLOAD = 1400 - 20 - 8  # a 1400-byte inner IPv4 packet

def run(*args):
    return subprocess.run(["ip", "netns", "exec", ns, *args], check=True,
                          capture_output=True, text=True).stdout

def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / TICK

def ping_rtts(target, count, interval):
    out = run("ping", "-n", "-c", str(count), "-i", str(interval), "-W", "1", target)
    return [float(m) for m in re.findall(r"time=([0-9.]+) ms", out)]

def tcp(target, pids):
    """(Gbit/s, CPU-s per Gbit of the daemons or None, loaded RTT median ms)"""
    loaded = []
    pinger = threading.Thread(target=lambda: loaded.extend(
        ping_rtts(target, max(1, (seconds - 2) * 5), 0.2)))
    before = cpu_seconds(pids)
    pinger.start()
    result = json.loads(run("iperf3", "-c", target, "-t", str(seconds), "-J"))
    pinger.join()
    cpu = cpu_seconds(pids) - before
    gbit = result["end"]["sum_received"]["bits_per_second"] / 1e9
    gbits = result["end"]["sum_received"]["bytes"] * 8 / 1e9
    return gbit, (cpu / gbits if pids and gbits else None), (statistics.median(loaded) if loaded else None)

def udp_try(target, pps):
    """Offers pps packets/s for 2 s; returns (loss %, received packets/s)."""
    bits = pps * UDP_PAYLOAD * 8
    # -w 4M: iperf3's own socket buffers (both ends) absorb its scheduling hiccups, so the loss
    # measured is the path's, not the sink's.
    result = json.loads(run("iperf3", "-c", target, "-u", "-w", "4M", "-l", str(UDP_PAYLOAD),
                            "-b", str(int(bits)), "-t", "2", "-J"))
    s = result["end"]["sum"]
    return s["lost_percent"], (s["packets"] - s["lost_packets"]) / s["seconds"]

def udp_pps(target):
    """Highest offered rate with <= 0.1 % loss: bisection on a log scale between 1 k and 400 k
    packets/s (iperf3 itself tops out near 150 k here), 8 steps of 2 s."""
    lo, hi, best = 1e3, 4e5, 0.0
    for _ in range(8):
        mid = (lo * hi) ** 0.5
        loss, pps = udp_try(target, mid)
        if loss <= 0.1:
            lo, best = mid, max(best, pps)
        else:
            hi = mid
    return best

def idle_rtt(target):
    return statistics.median(ping_rtts(target, 40, 0.05))

results = {name: {"tcp": [], "cpu": [], "loaded": [], "udp": [], "idle": []} for name, _, _ in paths}
for r in range(runs):
    for name, target, pids in paths:
        res = results[name]
        if "idle" in only:
            res["idle"].append(idle_rtt(target))
        gbit = cpu = loaded = udp = None
        if "tcp" in only:
            gbit, cpu, loaded = tcp(target, pids)
            res["tcp"].append(gbit); res["cpu"].append(cpu); res["loaded"].append(loaded)
        if "udp" in only:
            udp = udp_pps(target)
            res["udp"].append(udp)
        line = f"run {r + 1}/{runs} {name:8s}:"
        if gbit is not None:
            line += f" tcp {gbit:6.2f} Gbit/s, loaded {loaded or 0:.3f} ms"
            line += f", {cpu:.2f} CPU-s/Gbit" if cpu is not None else ""
        if udp is not None:
            line += f" udp {udp / 1e3:6.1f} kpps"
        if "idle" in only:
            line += f" idle {res['idle'][-1]:.3f} ms"
        print(line, flush=True)

def med(name, key):
    values = [v for v in results[name][key] if v is not None]
    return statistics.median(values) if values else None

rows = [("TCP, one stream, Gbit/s", "tcp", "{:.2f}", True),
        ("UDP 1400 B, kpps at <= 0.1 % loss", "udp", "{:.1f}", True),
        ("idle ping RTT, ms", "idle", "{:.3f}", False),
        ("ping RTT under the TCP stream, ms", "loaded", "{:.3f}", False),
        ("daemon CPU-s per Gbit (both ends)", "cpu", "{:.2f}", False)]
names = [n for n, _, _ in paths]
print(f"\n{cipher}, IPv{family} underlay, {seconds} s per TCP run, median of {runs} run(s)")
header = "| | " + " | ".join(names) + " | postern / veth |" + (" postern / OpenVPN |" if "OpenVPN" in names else "")
print(header)
print("|---" * (header.count("|") - 1) + "|")
for title, key, fmt, _ in rows:
    cells = []
    for n in names:
        v = med(n, key)
        if v is not None and key == "udp":
            v /= 1e3
        cells.append(fmt.format(v) if v is not None else "—")
    p, vth = med("postern", key), med("veth", key)
    ratio_v = f"{p / vth:.2f}" if p and vth else "—"
    line = f"| {title} | " + " | ".join(cells) + f" | {ratio_v} |"
    if "OpenVPN" in names:
        o = med("OpenVPN", key)
        line += f" {p / o:.2f} |" if p and o else " — |"
    print(line)
PY
