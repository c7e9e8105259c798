# Shared helpers for the netns end-to-end tests (sourced, bash).
# Each test gets its own uniquely named namespaces ("pst<pid>-site", "pst<pid>-laptop", ...) joined
# by veth, a throwaway PKI and configs in a temp dir, and a trap that removes everything on every
# exit path (success, failure, Ctrl-C). Exit status 77 = skipped (CTest SKIP_RETURN_CODE).
set -euo pipefail

: "${POSTERN_BIN:?POSTERN_BIN must point at the postern binary}"
TEST_NAME=$(basename "$0" .sh)
ID="pst$$"
NS_SITE="$ID-site"
NS_LAPTOP="$ID-laptop"
NS_LAN="$ID-lan"
WORK=$(mktemp -d "/tmp/postern-$TEST_NAME.XXXXXX")
chmod 755 "$WORK"   # the daemons drop to nobody and must still reach their files
# ...and re-read some at SIGHUP (the server refuses to start otherwise): a file `postern user add`
# creates takes its directory's group, so the users files here are root:nogroup 0640.
chgrp nogroup "$WORK"
PIDS=()
NAMESPACES=()

log() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }
fail() {
  printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
  for f in "$WORK"/*.log; do
    [ -f "$f" ] || continue
    printf -- '--- %s (last 40 lines)\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
  exit 1
}
skip() { printf '[%s] SKIP: %s\n' "$TEST_NAME" "$*"; exit 77; }

cleanup() {
  local status=$?
  trap '' INT TERM  # a second signal must not cut the clean-up short
  # The watchdog's TERM trap ends its sleep too (see below).
  [ -n "${WATCHDOG_PID:-}" ] && kill "$WATCHDOG_PID" 2>/dev/null || true
  # SIGCONT too: a test may have stopped a daemon (SIGSTOP), and waiting for it would hang.
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; kill -CONT "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "${NAMESPACES[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  # A test's private /etc files for a namespace (`ip netns exec` bind-mounts them over /etc).
  for ns in "${NAMESPACES[@]}"; do rm -rf "/etc/netns/$ns"; done
  if [ "$status" -eq 0 ] || [ "$status" -eq 77 ]; then rm -rf "$WORK"; else echo "[$TEST_NAME] kept $WORK for inspection" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CTest kills a test that overruns its TIMEOUT with SIGKILL, which no trap sees: this watchdog
# fires first (TEST_WATCHDOG seconds, below every netns TIMEOUT), kills what runs in the test's
# namespaces so no wait hangs, and TERMs the script so cleanup removes them.
(
  # The sleep must not hold the test's stdout/stderr: CTest waits for those pipes to close. Nor
  # may it outlive the test: it inherits every descriptor, among them the one of
  # `flock /work/locks/netns`, so a sleep orphaned by cleanup's kill kept the lock for the whole
  # TEST_WATCHDOG (two hours after a bench_tunnel.sh). The TERM from cleanup ends it too.
  trap 'kill "$sleep_pid" 2>/dev/null; exit 0' TERM
  sleep "${TEST_WATCHDOG:-100}" </dev/null >/dev/null 2>&1 &
  sleep_pid=$!
  wait "$sleep_pid"
  echo "[$TEST_NAME] watchdog: still running after ${TEST_WATCHDOG:-100}s, stopping the test" >&2
  kill -TERM $$ 2>/dev/null
  sleep 2  # the script is blocked in a foreground command: unblock it
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$ID-"); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
  done
) &
WATCHDOG_PID=$!

require_root() {
  [ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces and TUN devices (run as root)"
  [ -c /dev/net/tun ] || skip "/dev/net/tun is missing"
  command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
}

in_site() { ip netns exec "$NS_SITE" "$@"; }
in_laptop() { ip netns exec "$NS_LAPTOP" "$@"; }
in_lan() { ip netns exec "$NS_LAN" "$@"; }

add_ns() {
  ip netns add "$1"
  NAMESPACES+=("$1")
  ip -n "$1" link set lo up
}

# laptop 10.200.0.1/24 <-veth-> site 10.200.0.2/24 [site 192.168.50.1/24 <-veth-> lan 192.168.50.2/24]
make_topology() {
  add_ns "$NS_SITE"
  add_ns "$NS_LAPTOP"
  ip link add "${ID}a" type veth peer name "${ID}b"
  ip link set "${ID}a" netns "$NS_LAPTOP"
  ip link set "${ID}b" netns "$NS_SITE"
  VETH_LAPTOP="${ID}a"
  VETH_SITE="${ID}b"
  ip -n "$NS_LAPTOP" addr add 10.200.0.1/24 dev "$VETH_LAPTOP"
  ip -n "$NS_SITE" addr add 10.200.0.2/24 dev "$VETH_SITE"
  ip -n "$NS_LAPTOP" link set "$VETH_LAPTOP" up
  ip -n "$NS_SITE" link set "$VETH_SITE" up
  if [ "${WITH_LAN:-0}" = 1 ]; then
    add_ns "$NS_LAN"
    ip link add "${ID}c" type veth peer name "${ID}d"
    ip link set "${ID}c" netns "$NS_SITE"
    ip link set "${ID}d" netns "$NS_LAN"
    ip -n "$NS_SITE" addr add 192.168.50.1/24 dev "${ID}c"
    ip -n "$NS_LAN" addr add 192.168.50.2/24 dev "${ID}d"
    ip -n "$NS_SITE" link set "${ID}c" up
    ip -n "$NS_LAN" link set "${ID}d" up
    # The LAN host routes the tunnel pool back via the site gateway.
    ip -n "$NS_LAN" route add 10.77.0.0/24 via 192.168.50.1
    in_site sysctl -qw net.ipv4.ip_forward=1
  fi
}

make_pki() {
  "$POSTERN_BIN" pki init "$WORK/pki" --server-name 10.200.0.2 >"$WORK/pki.log" 2>&1 || fail "pki init"
  "$POSTERN_BIN" pki issue "$WORK/pki" laptop >>"$WORK/pki.log" 2>&1 || fail "pki issue"
  chmod 755 "$WORK/pki"
}

# write_server_config FILE [extra lines for [tunnel]]
write_server_config() {
  local file=$1; shift
  cat >"$file" <<CONF
[tunnel]
listen = "10.200.0.2:1723"
certificate = "pki/server.pem"
private_key = "pki/server.key"
client_ca = "pki/ca.pem"
pool = "10.77.0.0/24"
routes = ["10.77.0.0/24"${SITE_ROUTES:-}]
dns = ["10.77.0.1"]
interface = "pst0"
$(printf '%s\n' "$@")

[daemon]
status_socket = "$WORK/server.sock"
CONF
}

# append_smtp_config FILE [extra lines for [smtp]]: the SMTP submission listener on the server's
# tunnel address (10.77.0.1:587 STARTTLS) for local domain example.test; SMTP_HOSTNAME sets
# [smtp] hostname (default mail.example.test). Sections after it ([smtp.relay]...) go after.
append_smtp_config() {
  local file=$1; shift
  cat >>"$file" <<CONF

[smtp]
listen = ["10.77.0.1:587 starttls"]
hostname = "${SMTP_HOSTNAME:-mail.example.test}"
certificate = "pki/server.pem"
private_key = "pki/server.key"
spool = "spool"
maildir = "maildir"
domains = ["example.test"]
$(printf '%s\n' "$@")
CONF
}

# write_client_config FILE [extra lines for [tunnel]]; CLIENT_SERVER overrides the server address.
# Pushed DNS is not applied (the namespaces share the host's /etc/resolv.conf) unless
# CLIENT_APPLY_DNS=true, for a test that gives the laptop its own (/etc/netns/NS/resolv.conf).
write_client_config() {
  local file=$1; shift
  cat >"$file" <<CONF
[tunnel]
server = "${CLIENT_SERVER:-10.200.0.2:1723}"
ca = "pki/ca.pem"
interface = "pst0"
apply_dns = ${CLIENT_APPLY_DNS:-false}
$(printf '%s\n' "$@")

[daemon]
status_socket = "$WORK/$(basename "$file" .toml).sock"
CONF
}

start_server() {
  local conf=$1
  # `ip netns exec` execs the daemon, so $! is the daemon itself (signals reach it).
  ip netns exec "$NS_SITE" "$POSTERN_BIN" server -c "$conf" >"$WORK/server.log" 2>&1 &
  PIDS+=($!)
  SERVER_PID=$!
}

# start_client CONF NAME [netns]
start_client() {
  local conf=$1 name=$2 ns=${3:-$NS_LAPTOP}
  ip netns exec "$ns" "$POSTERN_BIN" client -c "$conf" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  CLIENT_PID=$!
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.2 s
wait_for() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
    sleep 0.2
  done
}

# tunnel_address NS IFNAME: prints the IPv4 address on the interface
tunnel_address() {
  ip -n "$1" -4 -o addr show dev "$2" 2>/dev/null | awk '{print $4}' | cut -d/ -f1
}

# --- Fault relay (tests/netns/fault_relay.py) -------------------------------------------------
# start_relay [relay options...]: runs the relay in the site namespace on 10.200.0.3:1723 (a second
# address on the site's veth) forwarding UDP and TCP to the server at 10.200.0.2:1723; point the
# client at it with RELAY_SERVER. Commands go through relay_cmd ("blackhole on", "rebind", ...).
RELAY_SERVER='server = "10.200.0.3:1723"'
start_relay() {
  ip -n "$NS_SITE" addr add 10.200.0.3/24 dev "$VETH_SITE" 2>/dev/null || true
  RELAY_FIFO="$WORK/relay.fifo"
  mkfifo -m 600 "$RELAY_FIFO"
  in_site python3 "$(dirname "${BASH_SOURCE[0]}")/fault_relay.py" --listen 10.200.0.3:1723 \
    --target 10.200.0.2:1723 --control "$RELAY_FIFO" "$@" >"$WORK/relay.log" 2>&1 &
  PIDS+=($!)
  RELAY_PID=$!
  wait_for 5 "fault relay" grep -q "relay listening" "$WORK/relay.log"
}
relay_cmd() { printf '%s\n' "$*" >"$RELAY_FIFO"; }

# wait_for_log SECONDS FILE REGEX: polls a daemon log for an extended regular expression
wait_for_log() { wait_for "$1" "/$3/ in $(basename "$2")" grep -Eq "$3" "$2"; }

# transfer_sha MEGABYTES [TIMEOUT_S]: TCP transfer laptop -> site (10.77.0.1:5001) through the
# tunnel; fails unless the SHA-256 of what arrived matches what was sent.
transfer_sha() {
  local megabytes=$1 timeout=${2:-60}
  # The receiver's `>` truncates in the background child: without this, a second transfer of
  # the test could find the first one's "listening" before that happens.
  rm -f "$WORK/recv.out"
  in_site timeout "$timeout" python3 "$(dirname "${BASH_SOURCE[0]}")/transfer.py" recv 5001 >"$WORK/recv.out" 2>&1 &
  local recv_pid=$!
  PIDS+=($recv_pid)
  wait_for 5 "receiver" grep -q listening "$WORK/recv.out"
  in_laptop timeout "$timeout" python3 "$(dirname "${BASH_SOURCE[0]}")/transfer.py" send 10.77.0.1 5001 "$megabytes" \
    "MARK$$" >"$WORK/send.out" || fail "transfer of $megabytes MB did not complete"
  wait "$recv_pid" || true
  local sent received
  sent=$(cat "$WORK/send.out"); received=$(tail -n 1 "$WORK/recv.out")
  log "sent     $sent"
  log "received $received"
  [ "$sent" = "$received" ] || fail "SHA-256 mismatch: sent $sent received $received"
}

# write_relay_client_config FILE [extra lines]: a certificate client that reaches the server through
# the fault relay (10.200.0.3) and still verifies the server's name (10.200.0.2).
write_relay_client_config() {
  local file=$1; shift
  CLIENT_SERVER="10.200.0.3:1723" write_client_config "$file" 'server_name = "10.200.0.2"' \
    'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"' "$@"
}

# up_tunnel SERVER_CONF CLIENT_CONF: starts both daemons, waits for the laptop's tunnel address
# (LAPTOP_ADDRESS) and one answered ping to the server's tunnel address.
up_tunnel() {
  start_server "$1"
  wait_for 10 "server tunnel interface" in_site ip link show pst0
  start_client "$2" laptop
  wait_for 15 "laptop tunnel address" bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
  LAPTOP_ADDRESS=$(tunnel_address "$NS_LAPTOP" pst0)
  wait_for 15 "a ping through the tunnel" in_laptop ping -c 1 -W 1 10.77.0.1
  log "tunnel up, laptop is $LAPTOP_ADDRESS"
}

# postern_pid NS: the pid of the postern daemon running in namespace NS (start_server/start_client
# record the pid of a wrapper subshell, which is not the process to signal).
postern_pid() {
  local pid
  for pid in $(ip netns pids "$1"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postern ] && { echo "$pid"; return 0; }
  done
  return 1
}

# try_client NAME CONFIG-LINES...: starts a client with those [tunnel] lines, waits up to 8 s,
# stops it, and succeeds if it got a tunnel address (the authentication tests' probe)
try_client() {
  local name=$1; shift
  write_client_config "$WORK/$name.toml" "$@"
  start_client "$WORK/$name.toml" "$name"
  local pid=$CLIENT_PID ok=1
  for _ in $(seq 1 40); do
    if ip -n "$NS_LAPTOP" -4 addr show dev pst0 2>/dev/null | grep -q 'inet 10.77.0.'; then ok=0; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  sleep 0.3
  return $ok
}
