#!/usr/bin/env bash
# Issue 10: the SMTP listener and the status socket under a hostile peer (tests/netns/hostile.py,
# and postern_flood for the raw connection flood; bounded in count and time, aimed at this
# test's namespaces only). An SMTP-only server on the
# site's outer address (10.200.0.2:2525 STARTTLS); the peers come from 40 laptop-side addresses.
#  1. The AUTH verification queue ([smtp] max_queued_verifications = 8): passwords are checked by
#     RADIUS, against tests/netns/radius_hold.py, which holds every answer until the test
#     releases it, so each check that starts blocks one of the two verification threads. 200
#     sessions send AUTH PLAIN at once (5 per source, under the failure limit): the first two
#     checks run, eight wait in the queue, every other AUTH gets `454 4.7.0 too many
#     authentications in progress` at once, without a check. After the release the queued ones
#     run and get 535. The checks that really ran are counted at the RADIUS server: at most
#     max_queued_verifications + 2, and every AUTH got either the 454 or a 535. (A build without
#     the queue check: all 200 were queued and checked, 200 x 535.)
#  2. Out of descriptors: the server restarted under an RLIMIT_NOFILE of 128 (prlimit, soft and
#     hard), 300 idle SMTP connections held for 8 s from 40 sources (the SMTP limits above them),
#     and a `postern status` request waiting on the status socket meanwhile: both accept loops get
#     EMFILE with their listen queues readable, and back off (100 ms) instead of spinning: under
#     750 ms of server CPU in 3 s, at most 100 "accept_failed" lines each. After the flood the
#     waiting status request is answered, and a real client AUTHs (users file) and submits.
#     (A build with both back-offs at 0 ms: 71,920 SMTP and 72,173 status accept failures and
#     3010 ms of server CPU in those 3 s; with them, 30 and 30 and 10 ms.)
source "$(dirname "$0")/lib.sh"
require_root
HOSTILE="$(dirname "$0")/hostile.py"
: "${POSTERN_FLOOD:?POSTERN_FLOOD must point at the postern_flood binary (tests/netns/flood.cpp)}"
make_topology
make_pki
for i in $(seq 100 139); do ip -n "$NS_LAPTOP" addr add "10.200.0.$i/24" dev "$VETH_LAPTOP"; done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks=$(getconf CLK_TCK)

# smtp_config FILE [extra [smtp] lines]: the SMTP-only server of this test.
smtp_config() {
  local file=$1; shift
  cat >"$file" <<CONF
[smtp]
listen = ["10.200.0.2:2525 starttls"]
hostname = "mail.example.test"
certificate = "pki/server.pem"
private_key = "pki/server.key"
spool = "spool"
maildir = "maildir"
domains = ["example.test"]
auth_failure_delay = "100ms"
$(printf '%s\n' "$@")

[daemon]
status_socket = "$WORK/server.sock"
CONF
}

# --- 1. the AUTH verification queue ------------------------------------------------------------
printf 'radius test secret\n' >"$WORK/radius.secret"; chmod 600 "$WORK/radius.secret"
# `ip netns exec` execs python, so $! is the process to signal.
ip netns exec "$NS_SITE" python3 "$(dirname "$0")/radius_hold.py" --listen 127.0.0.1:1812 \
  --secret-file "$WORK/radius.secret" >"$WORK/radius.log" 2>&1 &
RADIUS_PID=$!
PIDS+=("$RADIUS_PID")
wait_for 5 "radius_hold.py" grep -q "listening" "$WORK/radius.log"
smtp_config "$WORK/site.toml" 'max_connections = 300' 'max_queued_verifications = 8'
cat >>"$WORK/site.toml" <<CONF

[auth]
backend = "radius"

[auth.radius]
servers = ["127.0.0.1:1812"]
secret_file = "radius.secret"
timeout = "20s"
tries = 1
CONF
start_server "$WORK/site.toml"
wait_for 10 "server" grep -q "listening" "$WORK/server.log"
in_laptop python3 "$HOSTILE" smtp-auth-flood 10.200.0.2:2525 --count 200 --user alice \
  --sources 10.200.0.100-139 --ca "$WORK/pki/ca.pem" >"$WORK/auth-flood.out" 2>&1 &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
wait_for 40 "the 200 AUTH commands to be sent" grep -q "all sent" "$WORK/auth-flood.out"
busy() { grep -c 'auth_busy' "$WORK/server.log" || true; }
# Until every AUTH has been read by the server: no new refusal for a second.
last=-1
until [ "$(busy)" -eq "$last" ]; do last=$(busy); sleep 1; done
held=$(grep -c '^request ' "$WORK/radius.log" || true)
log "AUTH flood: $last refused with the queue full, $held checks at the RADIUS server before the release"
kill -USR1 "$RADIUS_PID"
wait "$FLOOD_PID" || fail "hostile.py smtp-auth-flood failed: $(cat "$WORK/auth-flood.out")"
log "$(tail -n 1 "$WORK/auth-flood.out")"
ran=$(grep -c '^request ' "$WORK/radius.log" || true)
count_of() { grep -o "[0-9]* x $1" "$WORK/auth-flood.out" | cut -d' ' -f1 || true; }
refused=$(count_of '454 4.7.0 too many authentications')
rejected=$(count_of '535 5.7.8')
log "200 parallel AUTHs against a queue of 8: $ran checks ran (RADIUS requests), ${refused:-0} got 454 at once, ${rejected:-0} got 535"
[ "$ran" -le 10 ] || fail "$ran password checks ran for 200 parallel AUTHs (queue 8 + 2 threads)"
[ "$ran" -ge 1 ] || fail "no password check reached the RADIUS server"
[ "${refused:-0}" -eq "$((200 - ran))" ] || fail "expected $((200 - ran)) AUTHs refused with the queue full: $(tail -n 1 "$WORK/auth-flood.out")"
[ "${rejected:-0}" -eq "$ran" ] || fail "expected $ran AUTHs answered 535 after their check: $(tail -n 1 "$WORK/auth-flood.out")"
[ "$(busy)" -eq "${refused:-0}" ] || fail "server logged $(busy) auth_busy for ${refused:-0} refusals"
server_pid=$(postern_pid "$NS_SITE")
kill -TERM "$server_pid"
wait_for 10 "the server to stop" bash -c "! kill -0 $server_pid 2>/dev/null"

# --- 2. descriptor exhaustion: the SMTP and status accept loops back off -------------------------
printf 'right password 7\n' | "$POSTERN_BIN" user add --cost 10 "$WORK/users.db" alice >/dev/null || fail "user add"
smtp_config "$WORK/site-fd.toml" 'users = "users.db"' 'max_connections = 1000' 'max_connections_per_ip = 100'
nofile=128
# prlimit sets its own limits (no capability needed to lower them) and execs the daemon.
ip netns exec "$NS_SITE" prlimit --nofile=$nofile:$nofile "$POSTERN_BIN" server -c "$WORK/site-fd.toml" \
  >"$WORK/server-fd.log" 2>&1 &
server_pid=$!
PIDS+=("$server_pid")
wait_for 10 "server" grep -q "listening" "$WORK/server-fd.log"
open_fds=$(ls "/proc/$server_pid/fd" | wc -l)
in_laptop "$POSTERN_FLOOD" connect-flood 10.200.0.2:2525 --sources 10.200.0.100-139 --count 2000 \
  --concurrent 300 --hold 8 >"$WORK/fd-flood.out" 2>&1 &
FD_FLOOD_PID=$!
PIDS+=("$FD_FLOOD_PID")
smtp_failed() { grep -c 'smtp id=- accept_failed' "$WORK/server-fd.log" || true; }
status_failed() { grep -c 'status accept_failed' "$WORK/server-fd.log" || true; }
wait_for 5 "the server to run out of descriptors" grep -q 'accept_failed.*[Tt]oo many open files' "$WORK/server-fd.log"
# A status request that waits for its answer through the flood (postern status gives up after 5 s).
python3 - "$WORK/server.sock" >"$WORK/status-wait.out" 2>&1 <<'PY' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(b"json\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
print("status answered, active_connections", json.loads(data)["smtp"]["active_connections"])
PY
STATUS_WAIT_PID=$!
PIDS+=("$STATUS_WAIT_PID")
wait_for 5 "the status socket to run out of descriptors" grep -q 'status accept_failed.*[Tt]oo many open files' "$WORK/server-fd.log"
before=$(cpu "$server_pid"); smtp_start=$(smtp_failed); status_start=$(status_failed)
sleep 3
after=$(cpu "$server_pid"); smtp_end=$(smtp_failed); status_end=$(status_failed)
kill -0 "$FD_FLOOD_PID" 2>/dev/null || fail "the flood ended before the measurement did: $(cat "$WORK/fd-flood.out")"
cpu_ms=$(( (after - before) * 1000 / ticks ))
log "out of descriptors (limit $nofile, $open_fds open before): in 3 s $((smtp_end - smtp_start)) SMTP and" \
  "$((status_end - status_start)) status 'accept_failed' lines, ${cpu_ms} ms of server CPU"
[ "$cpu_ms" -lt 750 ] || fail "the server used ${cpu_ms} ms of CPU in 3 s out of descriptors (a spinning accept loop?)"
[ $((smtp_end - smtp_start)) -gt 0 ] || fail "no SMTP accept_failed while the descriptors were exhausted"
[ $((smtp_end - smtp_start)) -le 100 ] || fail "$((smtp_end - smtp_start)) SMTP accept failures in 3 s: no back-off"
[ $((status_end - status_start)) -gt 0 ] || fail "no status accept_failed while a request waited"
[ $((status_end - status_start)) -le 100 ] || fail "$((status_end - status_start)) status accept failures in 3 s: no back-off"
wait "$FD_FLOOD_PID" || fail "postern_flood connect-flood failed: $(cat "$WORK/fd-flood.out")"
log "$(cat "$WORK/fd-flood.out")"
wait "$STATUS_WAIT_PID" || fail "the status request waiting through the flood was not answered: $(cat "$WORK/status-wait.out")"
log "$(cat "$WORK/status-wait.out") (the request that waited through the flood)"
"$POSTERN_BIN" status --socket "$WORK/server.sock" >/dev/null || fail "postern status after the flood"
in_laptop python3 - "$WORK/pki/ca.pem" <<'PY' || fail "a real client could not submit after the flood"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.check_hostname = False
with smtplib.SMTP("10.200.0.2", 2525, timeout=20, source_address=("10.200.0.1", 0)) as s:
    s.starttls(context=ctx)
    s.login("alice", "right password 7")
    s.sendmail("alice@example.test", ["alice@example.test"], b"Subject: after the flood\r\n\r\nstill here\r\n")
print("alice authenticated and submitted")
PY
log "after the flood: the status socket answers and alice authenticates and submits"
log "PASS"
