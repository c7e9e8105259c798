#!/usr/bin/env bash
# Issue 10: the control port under a hostile peer (tests/netns/hostile.py, bounded in count and
# time, aimed at this test's namespaces only).
#  1. Pre-auth flood: 5000 TCP connections over 12 s from 40 source addresses, 400 held open at
#     once, none sending a byte, against [tunnel] max_pending_handshakes = 64 and 8 per source.
#     While it runs, the established laptop session keeps passing traffic (ping through the
#     tunnel), and a client that starts then is up within 5 s; the server logs handshake_refused
#     and `postern status` counts handshake_limit and handshake_evicted; after the flood the
#     server's CPU is not pinned (less than 0.5 s of CPU time in 2 s).
#  SMTP: 200 idle connections without an identity from 40 outer addresses fill max_connections
#     (200) on an outer listener; a stranger is refused 421, and the tunnel user still submits
#     through the tunnel (one idle one is shed: shed_connections in `postern status`).
#  2. 500 concurrent HELLOs with wrong passwords from one source (the per-source pending limit
#     raised so they all reach the password check): every one gets AUTH_FAIL, at most
#     max_failures (10) scrypt verifications run ("bad user or password" lines), the rest are
#     refused unchecked, and a real password login from another address succeeds afterwards.
source "$(dirname "$0")/lib.sh"
require_root
HOSTILE="$(dirname "$0")/hostile.py"
make_topology
make_pki
printf 'right password 7\n' | "$POSTERN_BIN" user add --cost 10 "$WORK/users.db" alice >/dev/null || fail "user add"
printf 'right password 7\n' >"$WORK/alice.pass"; chmod 600 "$WORK/alice.pass"
for i in $(seq 100 139); do ip -n "$NS_LAPTOP" addr add "10.200.0.$i/24" dev "$VETH_LAPTOP"; done

# --- 1. pre-auth flood ------------------------------------------------------------------------
write_server_config "$WORK/site.toml" 'users = "users.db"' 'max_pending_handshakes = 64' \
  'max_pending_handshakes_per_source = 8'
cat >>"$WORK/site.toml" <<CONF

[smtp]
listen = ["10.77.0.1:587 starttls", "10.200.0.2:2525 starttls"]
hostname = "mail.example.test"
certificate = "pki/server.pem"
private_key = "pki/server.key"
spool = "spool"
maildir = "maildir"
domains = ["example.test"]
CONF
write_client_config "$WORK/laptop.toml" 'certificate = "pki/laptop.pem"' 'private_key = "pki/laptop.key"'
up_tunnel "$WORK/site.toml" "$WORK/laptop.toml"
server_pid=$(postern_pid "$NS_SITE")

in_laptop python3 "$HOSTILE" connect-flood 10.200.0.2:1723 --sources 10.200.0.100-139 --count 5000 \
  --concurrent 400 --hold 12 >"$WORK/flood.out" 2>&1 &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
sleep 3
in_laptop ping -c 5 -i 0.2 -W 2 10.77.0.1 >"$WORK/ping-flood.log" || fail "the established session stopped passing traffic during the flood"
log "established session: $(grep -o '[0-9]* received' "$WORK/ping-flood.log") of 5 pings during the flood"

# A client that starts during the flood: the laptop reconnects (a new process, a new handshake).
kill -TERM "$(postern_pid "$NS_LAPTOP")"
wait_for 5 "the laptop client to exit" bash -c "! ip -n $NS_LAPTOP link show pst0"
started=$SECONDS
start_client "$WORK/laptop.toml" laptop-again
wait_for 5 "a new client to come up during the flood" \
  bash -c "ip -n $NS_LAPTOP -4 addr show dev pst0 | grep -q 'inet 10.77.0.'"
log "new client up within $((SECONDS - started)) s during the flood"
kill -0 "$FLOOD_PID" 2>/dev/null || fail "the flood ended before the new client connected: $(cat "$WORK/flood.out")"

wait "$FLOOD_PID" || fail "hostile.py connect-flood failed: $(cat "$WORK/flood.out")"
log "$(cat "$WORK/flood.out")"
grep -q 'handshake_refused' "$WORK/server.log" || fail "no handshake_refused in the server log"
"$POSTERN_BIN" status --socket "$WORK/server.sock" --json >"$WORK/status.json" || fail "postern status"
python3 - "$WORK/status.json" <<'PY' || fail "control counters"
import json, sys
c = json.load(open(sys.argv[1]))["control"]
print(f"handshake_limit={c['handshake_limit']} handshake_evicted={c['handshake_evicted']} handshake_timeout={c['handshake_timeout']}")
assert c["handshake_limit"] > 0 and c["handshake_evicted"] > 0, c
PY
log "status: $(python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['control']; print('handshake_limit', c['handshake_limit'], 'handshake_evicted', c['handshake_evicted'])" "$WORK/status.json")"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
before=$(cpu "$server_pid"); sleep 2; after=$(cpu "$server_pid")
ticks=$(getconf CLK_TCK)
[ $(( (after - before) * 1000 / ticks )) -lt 500 ] || fail "server used $(( (after - before) * 1000 / ticks )) ms CPU in 2 s after the flood"
log "after the flood: server used $(( (after - before) * 1000 / ticks )) ms of CPU in 2 s"

# --- SMTP slots: strangers are shed for the tunnel user ---------------------------------------
in_laptop python3 "$HOSTILE" connect-flood 10.200.0.2:2525 --sources 10.200.0.100-139 --count 200 \
  --concurrent 200 --hold 12 >"$WORK/smtp-flood.out" 2>&1 &
SMTP_FLOOD_PID=$!
PIDS+=("$SMTP_FLOOD_PID")
smtp_active() {
  "$POSTERN_BIN" status --socket "$WORK/server.sock" --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["smtp"]["active_connections"])'
}
smtp_full() { [ "$(smtp_active)" -ge 200 ]; }
wait_for 10 "200 idle SMTP connections" smtp_full
sleep 2.5   # older than the 2 s a connection gets before it may be shed
in_laptop python3 - "$WORK/pki/ca.pem" <<'PY' || fail "a stranger got a slot, or the tunnel user could not submit"
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.check_hostname = False
try:  # a stranger (outer address, no identity) while the slots are full: refused
    smtplib.SMTP("10.200.0.2", 2525, timeout=10).quit()
    raise SystemExit("a stranger was served although every slot is held")
except smtplib.SMTPConnectError as e:
    assert e.smtp_code == 421, e
with smtplib.SMTP("10.77.0.1", 587, timeout=10) as s:  # the tunnel user
    s.starttls(context=ctx)
    s.sendmail("laptop@example.test", ["laptop@example.test"], b"Subject: slots\r\n\r\nthrough the flood\r\n")
print("stranger refused 421; the tunnel user's message accepted")
PY
shed=$("$POSTERN_BIN" status --socket "$WORK/server.sock" --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["smtp"]["shed_connections"])')
[ "$shed" -ge 1 ] || fail "no connection was shed for the tunnel user"
log "SMTP: 200 idle strangers ($(smtp_active) open); a stranger refused 421, the tunnel user submitted (shed_connections=$shed)"
kill "$SMTP_FLOOD_PID" 2>/dev/null || true
kill -TERM "$server_pid"
wait_for 10 "the server to stop" bash -c "! kill -0 $server_pid 2>/dev/null"

# --- 2. parallel password guesses from one source -------------------------------------------
write_server_config "$WORK/site2.toml" 'users = "users.db"' 'max_pending_handshakes = 2048' \
  'max_pending_handshakes_per_source = 1024'
start_server "$WORK/site2.toml"
wait_for 10 "server" grep -q "listening" "$WORK/server.log"
# The guesses come from 10.200.0.100; alice's real login below from the laptop's 10.200.0.1.
in_laptop python3 "$HOSTILE" hello-flood 10.200.0.2:1723 --count 500 --user alice --ca "$WORK/pki/ca.pem" \
  --source 10.200.0.100 >"$WORK/hello.out" 2>&1 &
HELLO_PID=$!
PIDS+=("$HELLO_PID")
wait "$HELLO_PID" || fail "hostile.py hello-flood failed: $(cat "$WORK/hello.out")"
log "$(cat "$WORK/hello.out")"
grep -q "500 AUTH_FAIL" "$WORK/hello.out" || fail "not every guess got AUTH_FAIL: $(cat "$WORK/hello.out")"
verified=$(grep -c 'reason="bad user or password"' "$WORK/server.log" || true)
unchecked=$(grep -c 'too many failures from this source' "$WORK/server.log" || true)
[ "$verified" -le 10 ] || fail "$verified password verifications ran for one source (limit 10)"
[ "$unchecked" -ge 480 ] || fail "only $unchecked guesses were refused unchecked"
log "500 guesses from one source: $verified verified, $unchecked refused unchecked"
try_client alice 'user = "alice"' 'password_file = "alice.pass"' || fail "alice's real login failed after the guessing"
log "a real password login still succeeds"
log "PASS"
